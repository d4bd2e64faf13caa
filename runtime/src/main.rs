//! `marquee`: the ticketing platform in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use marquee_host::App;
use marquee_deployments::{Part, Settings};
use marquee_limits::Rates;
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
    /// The platform the client commands talk to.
    #[arg(long, global = true, env = "MARQUEE_URL", default_value = DEFAULT_URL)]
    url: String,
    /// Access token (or a namespace token) for the client commands.
    #[arg(long, global = true, env = "MARQUEE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Subcommand)]
enum Command {
    /// Runs the whole platform in this process: control plane and every performance.
    Up(Serve),
    /// Runs the control plane (`/api/v1`, the console) against a shared store (`--store`);
    /// runtimes serve its performances.
    Control(Serve),
    /// Serves the performances of a shared store (`--store`) at `/p/{namespace}/…`: all of
    /// them, or those named with `--only`.
    Runtime {
        #[command(flatten)]
        serve: Serve,
        /// A performance to serve (repeatable); without it, every one.
        #[arg(long = "only", value_name = "NAMESPACE")]
        only: Vec<String>,
    },
    /// Logs in and prints an access token (`export MARQUEE_TOKEN=$(marquee login …)`).
    Login {
        #[arg(long)]
        email: String,
        #[arg(long, env = "MARQUEE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Components in the pool.
    #[command(subcommand)]
    Components(ComponentsCommand),
    /// Templates to deploy from.
    #[command(subcommand)]
    Templates(ListCommand),
    /// Your performances.
    #[command(subcommand)]
    Performances(ListCommand),
    /// Writes a backup of everything the platform keeps (admin), taken while it serves.
    Backup {
        /// The file to write; it appears only once the backup is whole.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restores a backup into an empty store: a data dir (`--data-dir`) or Redis (`--store`).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The embedded store's data dir to restore into (empty; no process may use it meanwhile).
        #[arg(long, conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        store: StoreFlags,
    },
    /// Deploys a performance from a template.
    Deploy {
        /// The performance's namespace (its URL is /p/NAMESPACE/).
        #[arg(long)]
        namespace: String,
        #[arg(long)]
        template: String,
        /// Parameters as a JSON file.
        #[arg(long)]
        params: Option<PathBuf>,
        /// A parameter: `title="Spring Gala"`, `sections[0].price=120000` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Swap a function: `listing=mypage@1.0.0` (repeatable).
        #[arg(long = "component", value_name = "ROLE=REF")]
        components: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ComponentsCommand {
    /// Uploads a component file (a wasm32-wasip2 component).
    Push {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
    },
    /// Lists the built-ins and your uploads.
    List,
}

#[derive(Subcommand)]
enum ListCommand {
    /// Lists them.
    List,
}

/// How a serving process runs.
#[derive(clap::Args)]
struct Serve {
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
    /// The web console as built by `npm run build` in web/.
    #[arg(long, env = "MARQUEE_CONSOLE_DIR", default_value = "web/dist")]
    console_dir: PathBuf,
    /// Open connections one client address may have at once.
    #[arg(long, env = "MARQUEE_CONNECTIONS_PER_ADDRESS", default_value_t = marquee::server::DEFAULT_CONNECTIONS_PER_ADDRESS)]
    connections_per_address: usize,
    /// How long a client may take to send a request's headers, or leave a connection idle, in milliseconds.
    #[arg(long, env = "MARQUEE_HEADER_TIMEOUT_MS", default_value_t = marquee::server::DEFAULT_HEADER_TIMEOUT_MS)]
    header_timeout_ms: u64,
    /// Proxies (CIDR ranges, comma-separated) whose `X-Forwarded-For` / `Forwarded` name the
    /// real client, for per-address limits: the Gateway's or load balancer's. Nobody else's
    /// are read.
    #[arg(long, env = "MARQUEE_TRUSTED_PROXIES", value_delimiter = ',', value_name = "CIDR")]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Bearer token of the platform's own Prometheus: with it `/metrics` includes sales series.
    #[arg(long, env = "MARQUEE_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    #[command(flatten)]
    rates: RateFlags,
    #[command(flatten)]
    store: StoreFlags,
    /// Where buyers reach `/p/…` (the load balancer or Gateway in front of the runtimes): the
    /// performance links the control plane hands out point there.
    #[arg(long, env = "MARQUEE_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    #[command(flatten)]
    kube: KubeFlags,
    #[command(flatten)]
    mail: MailFlags,
    #[command(flatten)]
    backups: BackupFlags,
}

/// Backups on a schedule, written by the control plane while it serves.
#[derive(clap::Args)]
struct BackupFlags {
    /// Writes a backup into this directory every `--backup-every` (`marquee-<ms>.backup`, the
    /// same file `marquee backup` writes), each renamed into place only once whole.
    #[arg(long, env = "MARQUEE_BACKUP_DIR", value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// How often: `30m`, `1h`, `6h`.
    #[arg(long, env = "MARQUEE_BACKUP_EVERY", default_value = "1h", value_name = "DURATION")]
    backup_every: String,
    /// How many backups are kept; older ones are removed as new ones are written.
    #[arg(long, env = "MARQUEE_BACKUP_KEEP", default_value_t = 24, value_name = "N")]
    backup_keep: usize,
}

impl BackupFlags {
    /// The schedule asked for, checked before anything starts.
    fn schedule(self) -> Result<Option<marquee_backup::Schedule>> {
        let Some(dir) = self.backup_dir else { return Ok(None) };
        let every = marquee_deployments::parse_duration(&self.backup_every)
            .with_context(|| format!("--backup-every {:?}: give a duration such as 30m, 1h or 6h", self.backup_every))?;
        anyhow::ensure!(self.backup_keep > 0, "--backup-keep must keep at least one backup");
        Ok(Some(marquee_backup::Schedule { dir, every, keep: self.backup_keep }))
    }
}

/// Mail to buyers (confirmations, refunds, reminders), sent by the control plane.
#[derive(clap::Args)]
struct MailFlags {
    /// The SMTP relay mail goes to: `smtp://host:port` (STARTTLS when offered with
    /// `?tls=opportunistic`, required with `?tls=required`), `smtps://host` (TLS),
    /// `smtp://user:password@host`. Without it mail waits in the outbox, shown in the console.
    #[arg(long, env = "MARQUEE_SMTP_URL", value_name = "URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The address mail comes from.
    #[arg(long, env = "MARQUEE_MAIL_FROM", value_name = "ADDRESS", default_value = "Marquee <tickets@localhost>")]
    mail_from: String,
}

impl MailFlags {
    /// The relay, checked before anything starts.
    fn relay(self) -> Result<Option<marquee_mail::Relay>> {
        self.smtp_url.filter(|url| !url.is_empty()).map(|url| marquee_mail::Relay::new(&url, &self.mail_from)).transpose()
    }
}

/// Cluster mode.
#[derive(clap::Args)]
struct KubeFlags {
    /// Cluster mode: mirror every performance into a `Performance` object for the operator,
    /// through the pod's service account.
    #[arg(long, env = "MARQUEE_KUBE")]
    kube: bool,
    /// Cluster mode against this Kubernetes API address instead of the pod's own.
    #[arg(long, env = "MARQUEE_KUBE_API", value_name = "URL")]
    kube_api: Option<String>,
    /// What each performance's Kubernetes namespace is named with before its name (the
    /// operator's `--namespace-prefix`).
    #[arg(long, env = "MARQUEE_NAMESPACE_PREFIX", default_value = marquee_crd::NAMESPACE_PREFIX, value_name = "PREFIX")]
    namespace_prefix: String,
    /// The namespace the platform runs in, which no performance may have.
    #[arg(long, env = "MARQUEE_PLATFORM_NAMESPACE", default_value = marquee_crd::PLATFORM_NAMESPACE, value_name = "NAMESPACE")]
    platform_namespace: String,
}

impl KubeFlags {
    async fn connect(self) -> Result<Option<marquee_control::Cluster>> {
        if !self.kube && self.kube_api.is_none() {
            return Ok(None);
        }
        let cluster = marquee_control::connect_cluster(self.kube_api.as_deref(), self.namespace_prefix, self.platform_namespace).await?;
        Ok(Some(cluster))
    }
}

impl Serve {
    fn run(self, part: Part) -> Result<()> {
        let Self {
            listen,
            data_dir,
            request_timeout_ms,
            history_interval_ms,
            console_dir,
            connections_per_address,
            header_timeout_ms,
            trusted_proxies,
            metrics_token,
            rates,
            store,
            public_url,
            kube,
            mail,
            backups,
        } = self;
        anyhow::ensure!(
            part == Part::All || store.store.is_some(),
            "the control plane and the runtimes share their state through a store: start them with --store redis://…"
        );
        let control = part.serves_control();
        // Mail is the control plane's to send.
        let relay = if control { mail.relay()? } else { None };
        // Backups are the control plane's to write.
        let schedule = if control { backups.schedule()? } else { None };
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().event_interval(EVENT_INTERVAL).build()?;
        runtime.block_on(async move {
            let settings = Settings {
                data_dir,
                request_timeout: Duration::from_millis(request_timeout_ms),
                rates: rates.rates(),
                history_interval: Duration::from_millis(history_interval_ms.max(100)),
                console_dir,
                connections_per_address: connections_per_address.max(1),
                header_timeout: Duration::from_millis(header_timeout_ms.max(100)),
                trusted_proxies: marquee_limits::TrustedProxies(trusted_proxies),
                metrics_token: metrics_token.filter(|t| !t.is_empty()),
                part,
                public_url,
                mail_relay: relay.is_some(),
            };
            let redis = store.connect().await?;
            let cluster = kube.connect().await?;
            // The one place the backend is picked.
            let open_store = move |data: &std::path::Path| match redis {
                None => marquee_store_embedded::open(data),
                Some(redis) => {
                    let backend = redis.backend();
                    if control {
                        // A control plane on Redis before the catalog was shared kept it in its data dir.
                        tokio::runtime::Handle::current().block_on(marquee_store_embedded::move_catalog(data, &*backend.catalog))?;
                    }
                    Ok(backend)
                }
            };
            let open_components = |data: &std::path::Path| marquee_host::Pool::start(&data.join("components"), marquee::BUILTINS);
            let app = tokio::task::spawn_blocking(move || App::open(settings, open_store, open_components)).await??;
            if let Some(cluster) = cluster.filter(|_| app.settings.part.serves_control()) {
                marquee_control::start_mirror(cluster, &app);
            }
            if let Some(relay) = relay {
                marquee_control::start_postman(&app, relay);
            }
            if let Some(schedule) = schedule {
                let app = app.clone();
                let components = marquee_backup::component_bytes(&app.backend, &app.settings.data_dir);
                tokio::spawn(async move { schedule.run(app.backend.clone(), components, |bytes| app.shared.metrics.backup_written(bytes)).await });
            }
            let listener = marquee::server::bind(listen).await?;
            println!("marquee listening on http://{}", listener.local_addr()?);
            marquee::server::serve(app.clone(), listener, marquee::server::shutdown_signal()).await?;
            Ok(())
        })
    }
}

/// Restores a backup into an empty data dir or Redis, and says what it restored.
fn restore(from: &std::path::Path, data_dir: Option<PathBuf>, store: StoreFlags) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Before the store is opened (which makes an empty data dir's files).
        marquee_backup::verify(from).await?;
        let (backend, dir, _lock) = match (data_dir, store.store.is_some()) {
            (Some(dir), false) => {
                std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
                let lock = marquee_deployments::lock_data_dir(&dir)?;
                (marquee_store_embedded::open(&dir)?, dir, Some(lock))
            }
            (None, true) => (store.connect().await?.context("a store")?.backend(), PathBuf::new(), None),
            _ => anyhow::bail!("say where to restore: --data-dir DIR (the embedded store) or --store redis://…"),
        };
        let components = marquee_backup::component_bytes(&backend, &dir);
        let summary = marquee_backup::restore(from, &backend, &*components).await?;
        println!("restored {summary} from {} into the {} store", from.display(), backend.name);
        Ok(())
    })
}

/// Where shared state lives.
#[derive(clap::Args)]
struct StoreFlags {
    /// A Redis server (`redis://host:6379`, `redis+unix:///path/redis.sock`) for claims, orders,
    /// kv and rate limits; without it they live in this process and its data dir.
    #[arg(long = "store", env = "MARQUEE_STORE", value_name = "URL")]
    store: Option<String>,
    /// `required`: refuse a Redis that could lose an acknowledged write (it must have
    /// `appendonly yes` and `appendfsync always`); `relaxed`: accept any.
    #[arg(long = "store-durability", env = "MARQUEE_STORE_DURABILITY", value_enum, default_value_t = Durability::Required)]
    durability: Durability,
    /// `required`: refuse a Redis that serves a client without a password (anything that
    /// reaches it could read the token keys and rewrite orders), unless only this machine
    /// reaches it (a Unix socket or loopback); `optional`: accept it anywhere.
    #[arg(long = "store-auth", env = "MARQUEE_STORE_AUTH", value_enum, default_value_t = StoreAuth::Required)]
    auth: StoreAuth,
    /// With a `rediss://` store: trust only this CA (a PEM file) for the server's certificate,
    /// instead of the system's roots.
    #[arg(long = "store-ca", env = "MARQUEE_STORE_CA", value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StoreAuth {
    Required,
    Optional,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Durability {
    Required,
    Relaxed,
}

impl StoreFlags {
    /// The Redis store asked for, if one was.
    async fn connect(self) -> anyhow::Result<Option<marquee_store_redis::RedisStore>> {
        let Some(url) = self.store else { return Ok(None) };
        let durability = match self.durability {
            Durability::Required => marquee_store_redis::Durability::Required,
            Durability::Relaxed => marquee_store_redis::Durability::Relaxed,
        };
        let ca = match &self.ca {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("failed to read the store's CA {}", path.display()))?),
            None => None,
        };
        let redis = marquee_store_redis::RedisStore::connect_with(&url, durability, ca).await?;
        if self.auth == StoreAuth::Required && redis.open_to_anyone().await? {
            anyhow::ensure!(
                redis.local_only(),
                "the Redis store serves a client that gives no password: anything that reaches it could read the token keys \
                 and rewrite orders; give it an ACL user with a password (redis://USER:PASSWORD@host, the default user off: \
                 `user default off ~* &* +@all`), or start with --store-auth optional"
            );
            tracing::warn!("the Redis store serves a client without a password; only this machine reaches it (a Unix socket or loopback), so it is used");
        }
        Ok(Some(redis))
    }
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
    /// Log-ins per minute per account from one client address.
    #[arg(long, env = "MARQUEE_LOGIN_ACCOUNT_RATE", default_value_t = 10)]
    login_account_rate: u32,
    /// Log-ins per hour per account from anywhere; past it, only an address that has not
    /// tried the account in the last hour gets a try (so the owner is never locked out).
    #[arg(long, env = "MARQUEE_LOGIN_ACCOUNT_HOURLY_RATE", default_value_t = 100)]
    login_account_hourly_rate: u32,
    /// Holds per second per client address.
    #[arg(long, env = "MARQUEE_HOLD_RATE", default_value_t = 50)]
    hold_rate: u32,
    /// Holds per second per buyer.
    #[arg(long, env = "MARQUEE_HOLD_BUYER_RATE", default_value_t = 5)]
    hold_buyer_rate: u32,
    /// Seats or units one client address may hold unpaid in a session, over all its accounts.
    #[arg(long, env = "MARQUEE_HELD_SEATS_PER_ADDRESS", default_value_t = 40)]
    held_seats_per_address: u32,
    /// Deploys per minute per seller.
    #[arg(long, env = "MARQUEE_DEPLOY_RATE", default_value_t = 20)]
    deploy_rate: u32,
    /// Live performances one seller may have at once (admins: no cap).
    #[arg(long, env = "MARQUEE_PERFORMANCES_PER_SELLER", default_value_t = 100)]
    performances_per_seller: u32,
}

impl RateFlags {
    fn rates(&self) -> Option<Rates> {
        (!self.no_rate_limits).then_some(Rates {
            signup_per_minute: self.signup_rate,
            login_per_minute: self.login_rate,
            login_per_account_per_minute: self.login_account_rate,
            login_per_account_per_hour: self.login_account_hourly_rate,
            holds_per_second: self.hold_rate,
            holds_per_buyer_per_second: self.hold_buyer_rate,
            held_seats_per_address: self.held_seats_per_address,
            deploys_per_seller_per_minute: self.deploy_rate,
            performances_per_seller: self.performances_per_seller,
        })
    }
}

/// Prints an error alone (`error: …` and its causes), as cargo does: never the backtrace a
/// `RUST_BACKTRACE` in the user's shell would add to a returned error.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let client = || marquee::cli::Client::new(&cli.url, cli.token.clone());
    match cli.command {
        Command::Up(serve) => serve.run(Part::All),
        Command::Control(serve) => serve.run(Part::Control),
        Command::Runtime { serve, only } => serve.run(Part::Runtime { only }),
        Command::Login { email, password } => {
            println!("{}", client().login(&email, &password)?);
            Ok(())
        }
        Command::Templates(ListCommand::List) => {
            marquee::cli::print_table(&["NAME", "DESCRIPTION"], &client().templates()?);
            Ok(())
        }
        Command::Performances(ListCommand::List) => {
            marquee::cli::print_table(&["NAMESPACE", "TEMPLATE", "TITLE", "URL"], &client().performances()?);
            Ok(())
        }
        Command::Components(ComponentsCommand::List) => {
            marquee::cli::print_table(&["NAME", "VERSION", "DIGEST"], &client().components()?);
            Ok(())
        }
        Command::Components(ComponentsCommand::Push { file, name, version }) => {
            let c = client().push(&file, &name, &version)?;
            println!("pushed {name}@{version}: {} ({}, {} bytes)", c.digest, c.world.unwrap_or_default(), c.size.unwrap_or_default());
            Ok(())
        }
        Command::Backup { to } => {
            let bytes = client().backup(&to)?;
            println!("wrote {} ({bytes} bytes)", to.display());
            Ok(())
        }
        Command::Restore { from, data_dir, store } => restore(&from, data_dir, store),
        Command::Deploy { namespace, template, params, sets, components } => {
            let mut document = match params {
                Some(path) => serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?)
                    .with_context(|| format!("{} is not JSON", path.display()))?,
                None => serde_json::json!({}),
            };
            for assignment in &sets {
                marquee::cli::set(&mut document, assignment)?;
            }
            let mut swaps = std::collections::BTreeMap::new();
            for swap in &components {
                let (role, reference) = swap.split_once('=').context("--component takes role=reference")?;
                swaps.insert(role.to_string(), reference.to_string());
            }
            let deployed = client().deploy(&namespace, &template, document, swaps)?;
            let url = deployed.public_url.unwrap_or_else(|| format!("{}{}", cli.url.trim_end_matches('/'), deployed.url));
            println!("deployed {} in {:.1} ms: {url}", namespace, deployed.deploy_ms);
            Ok(())
        }
    }
}
