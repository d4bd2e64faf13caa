//! Density: many idle performances in one `marquee up`. A performance nobody calls should
//! cost memory only, so idle CPU must not grow with the count and deploys must not slow down.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::client::{Conn, Server, ms, percentile};
use crate::scenarios::seated;

/// Live counts at which idle CPU and memory are measured (those up to the total).
const CHECKPOINTS: [usize; 3] = [10_000, 50_000, 100_000];
/// Quiet time before an idle measurement, for the last deploy's work to settle.
const SETTLE: Duration = Duration::from_secs(3);
const IDLE_WINDOW: Duration = Duration::from_secs(10);

/// Deploys `total` small performances one after another (each timed from the POST to its
/// first 200), measures idle CPU and memory at each checkpoint, then restarts the process on
/// the same data dir and times it to ready.
pub(crate) async fn run(marquee: &Path, total: usize) -> Result<()> {
    let server = Server::start(marquee, "up", None).await?;
    let token = server.seller().await?;
    let mut conn = Conn::connect(&server.addr).await?;
    let mut probe = Conn::connect(&server.addr).await?;
    idle(&server, 0).await?;
    let quarter = (total / 4).max(1);
    let mut samples = Vec::with_capacity(quarter);
    for i in 0..total {
        let ns = format!("d{i}");
        let started = Instant::now();
        conn.deploy(&token, &ns, seated(2, 2)).await?;
        let (status, _) = probe.get(&format!("/p/{ns}/api/info")).await?;
        anyhow::ensure!(status == 200, "first info call of {ns}: {status}");
        samples.push(started.elapsed());
        let live = i + 1;
        if live % quarter == 0 || live == total {
            samples.sort();
            println!(
                "density: deploys {}-{live}: p50={:.2} ms p99={:.2} ms max={:.2} ms",
                live + 1 - samples.len(),
                ms(percentile(&samples, 0.50)),
                ms(percentile(&samples, 0.99)),
                ms(*samples.last().unwrap())
            );
            samples.clear();
        }
        if CHECKPOINTS.contains(&live) {
            idle(&server, live).await?;
        }
    }
    drop((conn, probe));
    let started = Instant::now();
    let server = server.restart(marquee).await?;
    let ready = started.elapsed();
    let mut conn = Conn::connect(&server.addr).await?;
    for ns in ["d0".to_string(), format!("d{}", total - 1)] {
        let (status, _) = conn.get(&format!("/p/{ns}/api/info")).await?;
        anyhow::ensure!(status == 200, "{ns} after the restart: {status}");
    }
    println!("density: restart with {total} performances to ready: {:.2} s (RSS {} MiB)", ready.as_secs_f64(), server.rss_kib()? / 1024);
    Ok(())
}

/// Prints the share of one core the process uses while nobody calls it, and its memory.
async fn idle(server: &Server, live: usize) -> Result<()> {
    tokio::time::sleep(SETTLE).await;
    let before = server.cpu_time()?;
    tokio::time::sleep(IDLE_WINDOW).await;
    let used = server.cpu_time()? - before;
    println!(
        "density: {live} idle performances: CPU {:.2}% of a core over {} s, RSS {} MiB",
        100.0 * used.as_secs_f64() / IDLE_WINDOW.as_secs_f64(),
        IDLE_WINDOW.as_secs(),
        server.rss_kib()? / 1024
    );
    Ok(())
}
