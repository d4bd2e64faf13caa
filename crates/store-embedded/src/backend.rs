//! The embedded store as one [`Backend`]: everything in the data dir of the one process that
//! serves the platform.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use marquee_store::{Backend, BoxFuture, BuyerOrder, Catalog, ClaimStore, Claims, Replay, Secrets};

use crate::claims::EmbeddedClaims;
use crate::db::{Db, EmbeddedCatalog, EmbeddedIdentity, EmbeddedKv};
use crate::orders::{OrderStore, SqliteOrderLog};

/// The database file in the data dir.
const DATABASE: &str = "marquee.db";

/// Opens (or creates) the store in `data`, which only this process may use.
pub fn open(data: &Path) -> Result<Backend> {
    let secrets = data.join("secrets");
    std::fs::create_dir_all(&secrets).with_context(|| format!("failed to create {}", secrets.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))?;
    let path = data.join(DATABASE);
    let db = Arc::new(Db::open(&path)?);
    let log = Arc::new(SqliteOrderLog::open(&path)?);
    Ok(Backend {
        name: "embedded",
        identity: Arc::new(EmbeddedIdentity { db: db.clone(), keys_path: secrets.join("token-keys.json") }),
        catalog: Arc::new(EmbeddedCatalog(db.clone())),
        kv: Arc::new(EmbeddedKv(db.clone())),
        buckets: Arc::new(crate::buckets::LocalBuckets::default()),
        outbox: Arc::new(crate::outbox::EmbeddedOutbox { db: db.clone(), log: log.clone() }),
        snapshot: Arc::new(crate::snapshot::EmbeddedSnapshot { db: db.clone(), log: log.clone() }),
        claims: Arc::new(LoggedClaims { db, log }),
        secrets: Arc::new(SecretFiles(secrets)),
        shared: None,
    })
}

/// Moves the catalog a control plane on a shared store kept in its data dir `data` (before the
/// catalog was shared) into `to`, once: a marker file in `data` says it was done; a store whose
/// catalog is not empty takes nothing.
pub async fn move_catalog(data: &Path, to: &dyn Catalog) -> Result<()> {
    let (path, moved) = (data.join(DATABASE), data.join("catalog-moved"));
    if moved.exists() {
        return Ok(());
    }
    // A data dir without a database never kept a catalog.
    if path.exists() {
        crate::db::copy_catalog(&Arc::new(Db::open(&path)?), to).await?;
    }
    std::fs::write(&moved, "the catalog is in the shared store\n").with_context(|| format!("failed to write {}", moved.display()))
}

/// Claims in memory over the order log, rebuilt from it when a performance opens.
struct LoggedClaims {
    db: Arc<Db>,
    log: Arc<SqliteOrderLog>,
}

impl Claims for LoggedClaims {
    fn open<'a>(&'a self, deployment: &'a str, hold_ttl_ms: u64, replay: Replay<'a>) -> BoxFuture<'a, Arc<dyn ClaimStore>> {
        Box::pin(async move {
            let (log, owned) = (self.log.clone(), deployment.to_owned());
            let read = move || -> Result<_> { Ok((log.load(&owned)?, log.entries(&owned)?)) };
            let (rows, entries) = tokio::task::spawn_blocking(read).await??;
            let claims = EmbeddedClaims::new(deployment, self.log.clone(), hold_ttl_ms);
            for row in &rows {
                if let Some(restored) = replay(row)? {
                    claims.restore(restored);
                }
            }
            for (order, ticket, entry) in entries {
                claims.restore_entry(&order, &ticket, entry);
            }
            let claims: Arc<dyn ClaimStore> = Arc::new(claims);
            Ok(claims)
        })
    }

    fn orders_of_buyer<'a>(&'a self, buyer: &'a str, _catalog: &'a dyn Catalog) -> BoxFuture<'a, Vec<BuyerOrder>> {
        let (db, buyer) = (self.db.clone(), buyer.to_owned());
        // The log and the catalog share one database: one query joins them.
        Box::pin(async move { tokio::task::spawn_blocking(move || db.orders_of_buyer(&buyer)).await? })
    }
}

/// Each secret a file in the data dir's `secrets/` (mode 0700).
struct SecretFiles(PathBuf);

impl Secrets for SecretFiles {
    fn secret<'a>(&'a self, name: &'a str, candidate: &'a str) -> BoxFuture<'a, String> {
        let (path, candidate) = (self.0.join(name), candidate.to_owned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                if !path.exists() {
                    marquee_store::files::write_secret(&path, candidate.as_bytes())?;
                }
                std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))
            })
            .await?
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_embedded_backend_passes_the_backend_conformance_suite() {
        let dir = crate::TestDir::new("backend");
        marquee_store::conformance::backend(&super::open(&dir.0).unwrap()).await;
    }
}
