//! Backups: everything the platform keeps, streamed to an admin while it serves (see
//! `marquee-backup` for what a backup holds and why it is consistent).

use super::*;

/// A backup of the platform (admin): the file `marquee restore` reads, streamed as it is
/// read from the store. A backup that fails midway ends without its last line, which a
/// restore refuses.
pub(crate) async fn backup(State(app): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_role(&[Role::Admin])?;
    let (writer, reader) = tokio::io::duplex(256 << 10);
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let components = marquee_backup::component_bytes(&app.backend, &app.settings.data_dir);
        match marquee_backup::back_up(&app.backend, &*components, writer).await {
            Ok(summary) => {
                tracing::info!(%summary, took = ?started.elapsed(), "backup written");
                app.shared.metrics.backup_written(summary.bytes);
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "backup failed; the file it sent is refused by a restore"),
        }
    });
    let name = format!("attachment; filename=\"marquee-{}.backup\"", marquee_deployments::clock::now_secs());
    let headers = [(http::header::CONTENT_TYPE, "application/jsonl".to_owned()), (http::header::CONTENT_DISPOSITION, name)];
    Ok((headers, axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader))).into_response())
}
