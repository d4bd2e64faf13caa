//! `marquee`: the ticketing platform in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use marquee::app::{App, Settings};
use marquee::limits::Rates;
use tracing_subscriber::EnvFilter;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./marquee-data";
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_HISTORY_INTERVAL_MS: u64 = 5_000;
/// Scheduler ticks between polls for new I/O while workers are busy (tokio's default is 61):
/// with a namespace saturating the CPU, a neighbour's new request is noticed within a few
/// task polls instead of some sixty.
const EVENT_INTERVAL: u32 = 2;

#[derive(Parser)]
#[command(name = "marquee", version, about = "Ticketing on WebAssembly functions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole platform in this process: control plane and every performance.
    Up {
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, env = "MARQUEE_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Where the store, keys and compiled components live.
        #[arg(long, env = "MARQUEE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Time budget of one function request, in milliseconds.
        #[arg(long, env = "MARQUEE_REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT_MS)]
        request_timeout_ms: u64,
        /// How often the console's metric history is sampled, in milliseconds.
        #[arg(long, env = "MARQUEE_HISTORY_INTERVAL_MS", default_value_t = DEFAULT_HISTORY_INTERVAL_MS)]
        history_interval_ms: u64,
        #[command(flatten)]
        rates: RateFlags,
    },
}

/// Rate limits; 0 turns one off.
#[derive(clap::Args)]
struct RateFlags {
    /// Turns every rate limit off (load tests from one address).
    #[arg(long, env = "MARQUEE_NO_RATE_LIMITS")]
    no_rate_limits: bool,
    /// Sign-ups per minute per client address.
    #[arg(long, env = "MARQUEE_SIGNUP_RATE", default_value_t = 20)]
    signup_rate: u32,
    /// Log-ins per minute per client address.
    #[arg(long, env = "MARQUEE_LOGIN_RATE", default_value_t = 60)]
    login_rate: u32,
    /// Log-ins per minute per account.
    #[arg(long, env = "MARQUEE_LOGIN_ACCOUNT_RATE", default_value_t = 10)]
    login_account_rate: u32,
    /// Holds per second per client address.
    #[arg(long, env = "MARQUEE_HOLD_RATE", default_value_t = 50)]
    hold_rate: u32,
    /// Holds per second per buyer.
    #[arg(long, env = "MARQUEE_HOLD_BUYER_RATE", default_value_t = 5)]
    hold_buyer_rate: u32,
}

impl RateFlags {
    fn rates(&self) -> Option<Rates> {
        (!self.no_rate_limits).then_some(Rates {
            signup_per_minute: self.signup_rate,
            login_per_minute: self.login_rate,
            login_per_account_per_minute: self.login_account_rate,
            holds_per_second: self.hold_rate,
            holds_per_buyer_per_second: self.hold_buyer_rate,
        })
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up { listen, data_dir, request_timeout_ms, history_interval_ms, rates } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .event_interval(EVENT_INTERVAL)
                .build()?;
            runtime.block_on(async move {
                let settings = Settings {
                    data_dir,
                    request_timeout: Duration::from_millis(request_timeout_ms),
                    rates: rates.rates(),
                    history_interval: Duration::from_millis(history_interval_ms.max(100)),
                };
                let app = tokio::task::spawn_blocking(move || App::open(settings)).await??;
                let listener = marquee::server::bind(listen).await?;
                println!("marquee listening on http://{}", listener.local_addr()?);
                marquee::server::serve(app, listener, marquee::server::shutdown_signal()).await
            })
        }
    }
}
