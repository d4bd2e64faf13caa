//! Measures Marquee as a user sees it: the real `marquee up` binary, driven over loopback.
//!
//! ```text
//! cargo build --release -p marquee -p marquee-bench
//! ./target/release/marquee-bench all
//! ```

mod claims;
mod client;
mod density;
mod scenarios;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks for Marquee; prints figures for bench/RESULTS.md")]
struct Cli {
    /// The marquee binary (default: next to this one).
    #[arg(long, global = true)]
    marquee: Option<PathBuf>,
    /// Runs marquee on a redis-server of its own (`--store`, appendfsync always) instead of
    /// the embedded store.
    #[arg(long, global = true)]
    redis: bool,
    /// With --redis: runs `marquee control` and this many `marquee runtime` processes instead
    /// of one `marquee up` (deploy and booking).
    #[arg(long, global = true, default_value_t = 0, requires = "redis")]
    runtimes: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Clone, Copy)]
enum Scenario {
    /// Deploy latency: POST to the first 200 of the info call, 20,000-seat and 4-seat maps.
    Deploy,
    /// Requests/s and latency of GET /p/{ns}/api/info at 64 connections.
    Read,
    /// Resident memory per idle deployed performance, over 1,000 performances.
    Memory,
    /// Hold + confirm per second on one performance with a 50,000-seat map, 64 buyers.
    Booking,
    /// Namespace A flooded (256 connections) and spinning; namespace B's latency beside it.
    Noisy,
    /// The seller's desk at 100,000 orders: sales read time after 1,000 and after 100,000
    /// orders, and each CSV export's time and the server's memory while it streams.
    Desk,
    /// A backup at 100,000 orders: its time and size, and the booking rate on another
    /// performance alone and while backups run back to back.
    Backup,
    /// Idle CPU, memory, deploy latency and restart time as 100,000 performances (or
    /// `--performances`) are deployed into one `marquee up`.
    Density {
        #[arg(long, default_value_t = 100_000)]
        performances: usize,
    },
    /// Orders/s the Redis claim store alone acknowledges durably (starts its own redis-server).
    RedisClaims,
    /// Every scenario above but desk, backup, density and redis-claims.
    All,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Scenario::RedisClaims = cli.scenario {
        return runtime.block_on(claims::run());
    }
    let marquee = match cli.marquee {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("marquee"),
    };
    anyhow::ensure!(marquee.exists(), "{} not found; build it with cargo build --release -p marquee", marquee.display());
    // Kept until the end: dropping it stops the server.
    let redis = cli.redis.then(|| marquee_store_redis::LocalRedis::start("bench", "always")).transpose()?;
    let store = redis.as_ref().map(marquee_store_redis::LocalRedis::url);
    runtime.block_on(async {
        let run = |s| scenarios::run(s, &marquee, store.as_deref(), cli.runtimes);
        match cli.scenario {
            Scenario::Deploy => run(scenarios::Which::Deploy).await,
            Scenario::Read => run(scenarios::Which::Read).await,
            Scenario::Memory => run(scenarios::Which::Memory).await,
            Scenario::Booking => run(scenarios::Which::Booking).await,
            Scenario::Noisy => run(scenarios::Which::Noisy).await,
            Scenario::Desk => run(scenarios::Which::Desk).await,
            Scenario::Backup => run(scenarios::Which::Backup).await,
            Scenario::Density { performances } => density::run(&marquee, performances).await,
            Scenario::RedisClaims => unreachable!("run above"),
            Scenario::All => {
                for s in [scenarios::Which::Deploy, scenarios::Which::Read, scenarios::Which::Memory, scenarios::Which::Booking, scenarios::Which::Noisy] {
                    run(s).await?;
                }
                Ok(())
            }
        }
    })
}
