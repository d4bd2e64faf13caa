//! The platform in one value: store, keys, component pool, templates and live namespaces.
//! Opening it on a data dir restores every deployed performance and its orders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use marquee_api::{DeployRequest, Identifier, PatchRequest};
use marquee_store::{Backend, BuyerOrder, DirectoryEvent, Identity, IdentityEvent, PerformanceRow, SharedStore};
use serde_json::Value;

use marquee_identity::{self as auth, Auth};
use marquee_store::Account;
use crate::error::DeployError;
use crate::history::{Counters, History};
use marquee_ticketing::{Commerce, TicketSigner};
use marquee_limits::{RateLimits, Rates};
use crate::namespace::{Namespace, Registry, Shared, Spec};
use marquee_ticketing::{Payments, TestProvider};
use crate::components::Components;
use marquee_ticketing::templates::{FieldError, PerformanceParams, Template, Templates};

/// How often a runtime on a shared store reports what it serves (a report lapses after a few
/// of these).
pub const SERVING_REPORT_INTERVAL: Duration = Duration::from_secs(2);

/// Settings of one platform process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the embedded store, the compiled components and the secrets live.
    pub data_dir: PathBuf,
    /// Wall-clock and CPU budget of one request to a function.
    pub request_timeout: Duration,
    /// `None` turns rate limiting off (the cap on unpaid seats per address with it).
    pub rates: Option<Rates>,
    /// How often the console's history is sampled.
    pub history_interval: Duration,
    /// The built web console (`web/dist`), served at `/console/`.
    pub console_dir: PathBuf,
    /// Open connections one client address may have at once.
    pub connections_per_address: usize,
    /// How long a client may take to send a request's headers or keep a connection idle.
    pub header_timeout: Duration,
    /// Proxies whose forwarded headers name the real client.
    pub trusted_proxies: marquee_limits::TrustedProxies,
    /// The bearer token of the platform's Prometheus, which may scrape sales series too.
    pub metrics_token: Option<String>,
    /// What this process serves.
    pub part: Part,
    /// Where buyers reach `/p/…` (a load balancer or Gateway in front of the runtimes), for the
    /// performance links the control plane hands out.
    pub public_url: Option<String>,
    /// Whether mail goes to an SMTP relay (`--smtp-url`); without one it waits in the outbox.
    pub mail_relay: bool,
}

/// What one process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The control plane and every performance (`marquee up`).
    All,
    /// The control plane (`/api/v1`, the console) and `/metrics` (`marquee control`); with a
    /// Redis store it writes every performance to the store's directory.
    Control,
    /// `/p/{ns}/…` of the performances in the store's directory, or of those named, and
    /// `/metrics` (`marquee runtime`).
    /// Serves performances only: those of the store's directory, or only those named.
    Runtime {
        /// The performances it serves; empty: every one.
        only: Vec<String>,
    },
}

impl Part {
    /// Whether it serves the control plane.
    pub fn serves_control(&self) -> bool {
        !matches!(self, Part::Runtime { .. })
    }

    /// Whether it serves performances.
    pub fn serves_performances(&self) -> bool {
        !matches!(self, Part::Control)
    }
}

/// A process's platform, over the compiled components of `C` (the Wasm host's pool).
pub struct App<C: Components> {
    /// How it was started.
    pub settings: Settings,
    /// The compiled components.
    pub pool: C,
    /// Built-in and admins' templates.
    pub templates: Templates,
    /// The live performances.
    pub registry: Registry<C::Compiled>,
    /// What every performance's host calls use.
    pub shared: Arc<Shared>,
    /// Rate limits and quotas.
    pub limits: RateLimits,
    /// The console's metric history.
    pub history: History,
    /// The store other processes share with this one (`None`: this process alone serves).
    shared_store: Option<Arc<dyn SharedStore>>,
    /// Everything the store keeps, for a backup.
    pub backend: Backend,
    /// This process's run (host name and a random part): how it signs what it writes to a
    /// shared store, its serving reports and function counters.
    pub process: String,
    /// Cluster mode's mirror of every performance into a `Performance` object.
    pub mirror: std::sync::OnceLock<Arc<dyn crate::mirror::Mirror>>,
    /// Foreground workers, and background ones for namespaces over their share of the CPU.
    pub workers: crate::fair::Workers,
    /// Serializes deploy, patch and delete, so none of them publishes over another.
    changes: tokio::sync::Mutex<()>,
    /// Serializes writes to the store's directory (control) and their application (runtime),
    /// so the last one written or applied is the newest state.
    directory: tokio::sync::Mutex<()>,
    /// Deletes the store did not finish taking (control): (namespace, deployment) whose
    /// directory entry or components' data is still there, removed again every second.
    unfinished: std::sync::Mutex<BTreeSet<(String, String)>>,
    /// Whether the shared store answered its last health check (always, without one).
    store_up: std::sync::atomic::AtomicBool,
    /// Held for the life of the process: the OS releases it on any exit, crash included.
    _lock: std::fs::File,
}

/// How often a shared store's health is checked.
const STORE_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Parameters an owner may change on a live performance; the rest shape its inventory.
pub(crate) const PATCHABLE: &[&str] =
    &["title", "venue", "description", "cast", "running_minutes", "poster", "time_zone", "per_buyer_limit", "booking_opens_at", "booking_closes_at", "presale_codes", "sessions", "sections", "goods"];

/// Takes the data dir's exclusive lock, so a second process on the same data dir (which would
/// sell the same seats from its own memory with the embedded store) refuses to start instead.
pub fn lock_data_dir(data: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = data.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
        anyhow::bail!(
            "another marquee process{holder} is using the data dir {}; stop it first or pick another --data-dir",
            data.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// Who asks the platform for a change: an account, and whether it is an admin (who may act on
/// any seller's performances and is not held to a seller's quota).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The account's id.
    pub id: &'a str,
    /// Whether it is an admin.
    pub admin: bool,
}

impl<C: Components> App<C> {
    /// A performance's pages at `--public-url`, if the process has one.
    pub fn public_url(&self, namespace: &str) -> Option<String> {
        self.settings.public_url.as_ref().map(|base| format!("{}/p/{namespace}/", base.trim_end_matches('/')))
    }

    /// Whether the platform is reached over https (its public URL says so): then its session
    /// cookies are `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.settings.public_url.as_deref().is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
    }

    /// Opens the platform on the data dir of `settings`, with the store `open_store` and the
    /// components `open_components` open there once the data dir is this process's.
    pub fn open(
        settings: Settings,
        open_store: impl FnOnce(&Path) -> Result<Backend>,
        open_components: impl FnOnce(&Path) -> Result<C>,
    ) -> Result<Arc<Self>> {
        let data = &settings.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("failed to create {}", data.display()))?;
        let lock = lock_data_dir(data)?;
        let backend = open_store(data)?;
        // Opened on a blocking thread of the runtime (it compiles components): the store's
        // async calls run to completion here.
        let runtime = tokio::runtime::Handle::current();
        let auth = Arc::new(runtime.block_on(Auth::open(backend.identity.clone(), backend.catalog.clone()))?);
        if settings.part.serves_control() {
            runtime.block_on(bootstrap_admin(&*backend.identity))?;
        }
        if let Some(shared) = &backend.shared {
            watch_identity(&**shared, &auth);
        }
        let metrics = Arc::new(marquee_telemetry::Metrics::default());
        // Tickets signed by one runtime are checked at the door by another process.
        let ticket_key = runtime.block_on(backend.secrets.secret("ticket-key", &auth::random_hex(32)))?;
        let commerce = Arc::new(Commerce {
            payments: Payments::new(Arc::new(TestProvider), backend.outbox.clone(), metrics.refunds_pending.clone(), metrics.refund_failures.clone()),
            signer: TicketSigner::new(hex::decode(ticket_key.trim()).context("the ticket key is not hex")?),
            max_held_per_address: settings.rates.map_or(0, |r| r.held_seats_per_address),
            outbox: backend.outbox.clone(),
        });
        let pool = open_components(data)?;
        let process = format!("{}-{}", std::env::var("HOSTNAME").unwrap_or_else(|_| "marquee".into()), marquee_identity::random_hex(4));
        let app = Arc::new(Self {
            pool,
            templates: Templates::builtin(),
            registry: Registry::default(),
            shared: Arc::new(Shared {
                claims: backend.claims.clone(),
                kv: backend.kv.clone(),
                catalog: backend.catalog.clone(),
                auth,
                commerce,
                metrics,
                active: Arc::default(),
                touched: Default::default(),
                max_timeout: settings.request_timeout,
            }),
            limits: settings.rates.map(|r| RateLimits::new(r, backend.buckets.clone())).unwrap_or_else(RateLimits::off),
            history: History::new(
                settings.history_interval,
                match &backend.shared {
                    None => Counters::Alone,
                    Some(shared) if settings.part.serves_control() => Counters::Merge(shared.clone()),
                    Some(shared) => Counters::Publish(shared.clone()),
                },
                process.clone(),
            ),
            shared_store: backend.shared.clone(),
            backend: backend.clone(),
            process,
            mirror: std::sync::OnceLock::new(),
            workers: crate::fair::Workers::start(crate::namespace::running_permits())?,
            changes: tokio::sync::Mutex::default(),
            directory: tokio::sync::Mutex::default(),
            unfinished: std::sync::Mutex::default(),
            store_up: std::sync::atomic::AtomicBool::new(true),
            _lock: lock,
            settings,
        });
        runtime.block_on(app.load_templates())?;
        if app.settings.part.serves_control() {
            let rows = runtime.block_on(app.shared.catalog.performances())?;
            // A few at a time: each may read its order log on the blocking pool.
            let this = &*app;
            let build = async |row: &PerformanceRow| {
                this.fetch_components(&row.spec).await?;
                Namespace::build(row, &this.pool, this.shared.clone()).await
            };
            let restoring = rows.iter().map(|row| async move { Ok((row, build(row).await)) }).collect();
            for (row, built) in runtime.block_on(marquee_store::a_few_at_a_time(restoring))? {
                // One performance that cannot come back must not keep the others down.
                match built {
                    Ok(ns) => app.registry.publish(Arc::new(ns)),
                    Err(e) => tracing::error!(namespace = %row.namespace, error = format!("{e:#}"), "could not restore"),
                }
            }
            runtime.block_on(app.announce_all())?;
            runtime.spawn(Self::finish_removals(Arc::downgrade(&app)));
            // Refunds the provider failed, whichever process failed them; and the outbox's
            // settled messages, forgotten once old.
            let payments = app.shared.commerce.payments.clone();
            runtime.spawn(async move { payments.work().await });
            let outbox = app.shared.commerce.outbox.clone();
            runtime.spawn(async move { marquee_ticketing::queue::prune(&*outbox).await });
        } else if app.shared_store.is_none() {
            anyhow::bail!("a runtime process needs a shared store (--store)");
        } else {
            runtime.block_on(app.follow_directory())?;
        }
        // On a shared store every process follows the directory: a runtime serves what it
        // lists, and a control plane learns of what the other control planes changed.
        if let Some(shared) = &app.shared_store {
            let follower = Arc::downgrade(&app);
            shared.watch_directory(Box::new(move |event| {
                let Some(app) = follower.upgrade() else { return };
                tokio::spawn(async move {
                    let applied = match &event {
                        DirectoryEvent::Resync => app.follow_directory().await,
                        DirectoryEvent::Changed(namespace) => app.follow(namespace).await,
                    };
                    if let Err(e) = applied {
                        tracing::error!(?event, error = format!("{e:#}"), "could not apply a change of the directory");
                    }
                });
            }));
        }
        tracing::info!(performances = app.registry.len(), store = backend.name, "restored");
        if app.shared_store.is_some() {
            runtime.spawn(Self::watch_store(Arc::downgrade(&app)));
        }
        Self::sample_history(Arc::downgrade(&app));
        if let (Some(_), Part::Runtime { .. }) = (&app.shared_store, &app.settings.part) {
            runtime.spawn(Self::report_serving(Arc::downgrade(&app)));
        }
        Ok(app)
    }

    /// Writes a performance as this process now serves it (or its removal) to the store's
    /// directory, where every runtime hears of it; nothing without a shared store.
    async fn announce(&self, namespace: &str) -> Result<()> {
        if let Some(mirror) = self.mirror.get() {
            mirror.changed(namespace);
        }
        let Some(shared) = &self.shared_store else { return Ok(()) };
        let _directory = self.directory.lock().await;
        match self.registry.get(namespace) {
            Some(ns) => shared.put_performance(namespace, &serde_json::to_string(&ns.row())?).await,
            None => shared.remove_performance(namespace).await,
        }
    }

    /// Tells the store which performances this runtime serves, and at which spec, every
    /// [`SERVING_REPORT_INTERVAL`] until the app is gone; each change is reported as it lands too.
    async fn report_serving(app: std::sync::Weak<Self>) {
        loop {
            let Some(app) = app.upgrade() else { return };
            let served: Vec<_> = app.registry.all().iter().map(|ns| (ns.name.clone(), ns.digest().to_owned())).collect();
            app.report(&served).await;
            drop(app);
            tokio::time::sleep(SERVING_REPORT_INTERVAL).await;
        }
    }

    async fn report(&self, served: &[(String, String)]) {
        let Some(shared) = &self.shared_store else { return };
        if let Err(e) = shared.report_serving(&self.process, served).await {
            tracing::warn!(error = format!("{e:#}"), "could not report what this runtime serves");
        }
    }

    /// Whether this process serves what it was started for: a runtime started with `--only`
    /// is not ready until it serves every performance named.
    pub fn ready(&self) -> bool {
        match &self.settings.part {
            Part::Runtime { only } => only.iter().all(|name| self.registry.get(name).is_some()),
            Part::All | Part::Control => true,
        }
    }

    /// Samples every live performance's history every interval until the app is gone.
    fn sample_history(app: std::sync::Weak<Self>) {
        tokio::spawn(async move {
            while let Some(app) = app.upgrade() {
                app.history.sample(&app.registry, &app.shared.touched).await;
                let interval = app.settings.history_interval;
                drop(app);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// Whether the shared store answers: while it does not, requests that need it are
    /// answered 503 at once instead of each waiting for its own timeout.
    pub fn store_up(&self) -> bool {
        self.store_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Pings the shared store every [`STORE_CHECK_INTERVAL`] for as long as the app lives.
    async fn watch_store(app: std::sync::Weak<Self>) {
        loop {
            let Some(app) = app.upgrade() else { return };
            let Some(shared) = &app.shared_store else { return };
            let up = shared.ping().await;
            if app.store_up.swap(up, std::sync::atomic::Ordering::Relaxed) != up {
                if up { tracing::info!("the shared store answers again") } else { tracing::warn!("the shared store does not answer") }
            }
            drop(app);
            tokio::time::sleep(STORE_CHECK_INTERVAL).await;
        }
    }

    /// Reads the admins' templates from the catalog, where another control plane may have
    /// changed them: each use of a template reads them first. A process alone on its store
    /// made every change itself, so what it read at start and changed since is current.
    pub async fn sync_templates(&self) -> Result<()> {
        if self.shared_store.is_none() {
            return Ok(());
        }
        self.load_templates().await
    }

    async fn load_templates(&self) -> Result<()> {
        let mut stored = Vec::new();
        for body in self.shared.catalog.templates().await? {
            match serde_json::from_str::<Template>(&body) {
                Ok(t) => stored.push(t),
                Err(e) => tracing::error!(error = %e, "a stored template does not parse"),
            }
        }
        self.templates.replace_custom(stored);
        Ok(())
    }

    /// Settles again what the store did not take, until it takes it: runtimes stop serving a
    /// deleted performance, and the catalog forgets a deploy that failed, once Redis takes
    /// writes again, not at the next start.
    async fn finish_removals(app: std::sync::Weak<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(app) = app.upgrade() else { return };
            let missed = std::mem::take(&mut *app.unfinished.lock().unwrap());
            for (namespace, deployment) in missed {
                app.settle(&namespace, &deployment).await;
            }
        }
    }

    /// Makes the store say what this process serves of `namespace` at `deployment`: in the
    /// directory and the catalog as served here, or (not served) out of both with its
    /// components' data. A write the store did not answer may still land, so what fails is
    /// tried again by [`App::finish_removals`] until the store takes it.
    async fn settle(&self, namespace: &str, deployment: &str) {
        let settled = async {
            self.announce(namespace).await?;
            match self.registry.get(namespace).filter(|ns| ns.deployment == deployment) {
                Some(ns) => {
                    let row = ns.row();
                    if !self.shared.catalog.insert_performance(&row).await? {
                        self.shared.catalog.update_performance(namespace, &row.params, &row.spec).await?;
                    }
                    Ok(())
                }
                None => {
                    self.shared.catalog.remove_performance(namespace, deployment, crate::clock::now_secs(), false).await?;
                    self.shared.kv.clear(deployment).await
                }
            }
        };
        if let Err(e) = settled.await {
            tracing::warn!(namespace, error = format!("{e:#}"), "the store did not take a change yet; trying again");
            self.unfinished.lock().unwrap().insert((namespace.to_owned(), deployment.to_owned()));
        }
    }

    /// At the control plane's start: the directory gets every performance this process
    /// serves, with the bytes of every uploaded component they run. It takes nothing out: a
    /// performance listed that this control plane does not know (another data dir's) is
    /// left to the runtimes that serve it.
    async fn announce_all(&self) -> Result<()> {
        let Some(shared) = &self.shared_store else { return Ok(()) };
        let live = self.registry.all();
        for ns in &live {
            for digest in ns.spec.components.values() {
                if !self.pool.builtins().any(|(_, d)| d == digest) {
                    shared.put_component(digest, &self.pool.bytes(digest)?).await?;
                }
            }
            self.announce(&ns.name).await?;
        }
        let unknown: Vec<String> = shared.performances().await?.into_iter().map(|(n, _)| n).filter(|n| self.registry.get(n).is_none()).collect();
        if !unknown.is_empty() {
            tracing::warn!(?unknown, "the store lists performances this control plane does not know; they are left as they are");
        }
        Ok(())
    }

    /// Puts an uploaded component where every runtime finds it.
    pub async fn announce_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        match &self.shared_store {
            Some(shared) => shared.put_component(digest, bytes).await,
            None => Ok(()),
        }
    }

    fn followed(&self, namespace: &str) -> bool {
        match &self.settings.part {
            Part::Runtime { only } => only.is_empty() || only.iter().any(|n| n == namespace),
            _ => true,
        }
    }

    /// A runtime serves every performance of the directory it follows, and no other.
    async fn follow_directory(&self) -> Result<()> {
        let Some(shared) = &self.shared_store else { return Ok(()) };
        let listed = shared.performances().await?;
        for (namespace, _) in &listed {
            if let Err(e) = self.follow(namespace).await {
                tracing::error!(%namespace, error = format!("{e:#}"), "could not serve a performance of the directory");
            }
        }
        // Gone from the list: asked again one by one, so a deploy that lands after the list
        // was read is kept.
        for ns in self.registry.all() {
            if !listed.iter().any(|(n, _)| n == &ns.name) {
                self.follow(&ns.name).await?;
            }
        }
        Ok(())
    }

    /// Compiles any component of a performance's spec this process has not seen, from the
    /// bytes in the shared store (another control plane's upload, a restored backup).
    async fn fetch_components(&self, spec: &str) -> Result<()> {
        let Some(shared) = &self.shared_store else { return Ok(()) };
        let spec: Spec = serde_json::from_str(spec).context("a performance's spec")?;
        let mut missing = Vec::new();
        for digest in spec.components.values() {
            if self.pool.get(digest).is_err() {
                missing.push(shared.component(digest).await?.with_context(|| format!("component {digest} is not in the store"))?);
            }
        }
        let pool = &self.pool;
        tokio::task::block_in_place(|| missing.iter().try_for_each(|bytes| pool.install(bytes)))
    }

    /// Serves one performance as the directory has it now (or stops serving it), compiling
    /// any component this process has not seen from the bytes in the store.
    async fn follow(&self, namespace: &str) -> Result<()> {
        let Some(shared) = &self.shared_store else { return Ok(()) };
        if !self.followed(namespace) {
            return Ok(());
        }
        let _directory = self.directory.lock().await;
        let Some(record) = shared.performance(namespace).await? else {
            self.stop_serving(namespace);
            return Ok(());
        };
        let row: PerformanceRow = serde_json::from_str(&record).context("a performance of the directory")?;
        if self.registry.get(namespace).is_some_and(|ns| {
            ns.deployment == row.deployment && ns.params_json == row.params && serde_json::to_string(&ns.spec).ok() == Some(row.spec.clone())
        }) {
            return Ok(());
        }
        self.fetch_components(&row.spec).await?;
        let ns = Namespace::build(&row, &self.pool, self.shared.clone()).await?;
        let served = [(ns.name.clone(), ns.digest().to_owned())];
        self.registry.publish(Arc::new(ns));
        self.report(&served).await;
        Ok(())
    }

    /// Validates, pins, persists and publishes a performance. Nothing is left behind when
    /// any step fails: persisting is the last step that can.
    pub async fn deploy(&self, caller: Actor<'_>, request: &DeployRequest) -> Result<(Arc<Namespace<C::Compiled>>, Duration), DeployError> {
        let owner = caller.id;
        let started = Instant::now();
        if !caller.admin {
            self.limits.check(marquee_limits::Limit::DeployBySeller, owner).await.map_err(DeployError::TooMany)?;
        }
        let name = &request.namespace;
        if let Some(mirror) = self.mirror.get()
            && Identifier::Namespace.accepts(name)
            && self.registry.get(name).is_none()
        {
            mirror.may_take(name).await.map_err(|refused| cluster_refusal(name, refused))?;
        }
        self.sync_templates().await?;
        let changes = self.changes.lock().await;
        let cap = self.limits.performances_per_seller as usize;
        if cap > 0 && !caller.admin && self.registry.owned_by(owner) >= cap {
            return Err(DeployError::QuotaExceeded(cap));
        }
        if !Identifier::Namespace.accepts(name) {
            return Err(DeployError::InvalidNamespace);
        }
        let namespace = name.clone();
        let template_name = &request.template;
        let template = self.templates.get(template_name).ok_or_else(|| DeployError::UnknownTemplate(template_name.clone()))?;
        let params = template.validate(&request.params)?;
        marquee_ticketing::templates::check_upcoming(&params)?;
        self.check_poster(&params, None).await?;
        if self.registry.get(&namespace).is_some() {
            return Err(namespace_taken(&namespace));
        }
        let mut components = self.template_components(&template)?;
        let lookup = (!caller.admin).then_some(owner);
        self.swap_components(lookup, &mut components, &request.components).await?;
        let spec = Spec { components, routes: template.routes.clone(), limits: template.limits };
        let row = PerformanceRow {
            namespace: namespace.clone(),
            deployment: auth::random_hex(12),
            owner: owner.to_string(),
            template: template.name.clone(),
            params: serde_json::to_string(&params).map_err(anyhow::Error::from)?,
            spec: serde_json::to_string(&spec).map_err(anyhow::Error::from)?,
            created_at: crate::clock::now_secs(),
        };
        let ns = Arc::new(Namespace::build(&row, &self.pool, self.shared.clone()).await?);
        match self.shared.catalog.insert_performance(&row).await {
            Ok(true) => {}
            Ok(false) => return Err(namespace_taken(&namespace)),
            Err(e) => {
                // A write the store did not answer may land later: it is taken back until it is.
                self.settle(&namespace, &row.deployment).await;
                return Err(e.into());
            }
        }
        self.registry.publish(ns.clone());
        drop(changes);
        if let Err(e) = self.announce(&namespace).await {
            // Runtimes may never hear of it, so the deploy did not happen: nothing stays here,
            // and the directory is told to forget it (if that fails too, the next start of the
            // control plane makes the directory what this process serves).
            self.unpublish(&namespace, &row.deployment, false).await?;
            let _ = self.announce(&namespace).await;
            return Err(e.into());
        }
        Ok((ns, started.elapsed()))
    }

    /// A template's functions pinned to digests: built-in names, or digests in the pool.
    fn template_components(&self, template: &Template) -> Result<BTreeMap<String, String>, DeployError> {
        template
            .components
            .iter()
            .map(|(role, component)| {
                let digest = match self.pool.builtin_digest(component) {
                    Some(digest) => digest.to_string(),
                    None if self.pool.get(component).is_ok() => component.clone(),
                    None => {
                        return Err(DeployError::UnknownComponent {
                            template: template.name.clone(),
                            role: role.clone(),
                            component: component.clone(),
                        });
                    }
                };
                Ok((role.clone(), digest))
            })
            .collect()
    }

    /// Adds or replaces an admin's template, after checking it could deploy.
    pub async fn put_template(&self, name: Option<&str>, template: Template) -> Result<Template, DeployError> {
        let invalid = |message: &str| DeployError::InvalidTemplate(FieldError::new("name", message));
        if name.is_some_and(|n| n != template.name) {
            return Err(invalid("the name in the body differs from the URL's"));
        }
        if !Identifier::Template.accepts(&template.name) {
            return Err(invalid("name must be 1-40 lower-case letters, digits or -"));
        }
        if self.templates.is_builtin(&template.name) {
            return Err(DeployError::BuiltinTemplate("change"));
        }
        template.check_routes().map_err(DeployError::InvalidTemplate)?;
        template.check_runtime().map_err(DeployError::InvalidTemplate)?;
        self.template_components(&template)?;
        let json = serde_json::to_string(&template).map_err(anyhow::Error::from)?;
        self.shared.catalog.put_template(&template.name, &json, crate::clock::now_secs()).await?;
        self.templates.put(template.clone());
        Ok(template)
    }

    /// Removes an admin's template. Performances deployed from it keep running as deployed.
    pub async fn delete_template(&self, name: &str) -> Result<(), DeployError> {
        if self.templates.is_builtin(name) {
            return Err(DeployError::BuiltinTemplate("be deleted"));
        }
        self.sync_templates().await?;
        if self.templates.get(name).is_none() {
            return Err(DeployError::TemplateNotFound(name.to_owned()));
        }
        self.shared.catalog.delete_template(name).await?;
        self.templates.remove(name);
        Ok(())
    }

    /// Resolves a reference to a component `owner` may deploy: a built-in, or one of their
    /// own uploads by digest or `name@version` (`None`: an admin, who may use anyone's).
    async fn component_for(&self, owner: Option<&str>, role: &str, reference: &str) -> Result<String, DeployError> {
        if let Some(digest) = self.pool.builtins().find(|(n, d)| *n == reference || *d == reference).map(|(_, d)| d) {
            return Ok(digest.to_string());
        }
        let mine = self.shared.catalog.components(owner).await?;
        let found = mine.iter().find(|c| c.digest == reference || format!("{}@{}", c.name, c.version) == reference);
        match found {
            Some(c) => Ok(c.digest.clone()),
            None => Err(DeployError::ComponentNotYours { role: role.to_owned(), reference: reference.to_owned() }),
        }
    }

    /// Changes a live performance: display parameters (`{"params": {...}}`, only
    /// `PATCHABLE` keys; `null` removes an optional one) and/or its functions
    /// (`{"components": {role: reference}}`, rolling forward or back to another version). The
    /// switch is one map insert: requests in flight finish on the old functions, new ones
    /// run the new. Returns the performance and how long the switch took.
    pub async fn patch(&self, caller: Actor<'_>, namespace: &str, request: &PatchRequest) -> Result<(Arc<Namespace<C::Compiled>>, Duration), DeployError> {
        let (previous, updated, took) = self.patch_here(caller, namespace, request).await?;
        if let Err(e) = self.announce(namespace).await {
            // Runtimes may never hear of it, so the change did not happen: the previous version
            // comes back (unless another change landed meanwhile) and is written again.
            {
                let _changes = self.changes.lock().await;
                if self.registry.get(namespace).is_some_and(|now| Arc::ptr_eq(&now, &updated)) {
                    let row = previous.row();
                    self.shared.catalog.update_performance(namespace, &row.params, &row.spec).await?;
                    self.registry.publish(previous);
                }
            }
            let _ = self.announce(namespace).await;
            return Err(e.into());
        }
        Ok((updated, took))
    }

    /// Applies a patch here; returns the version it replaced, the new one and the time taken.
    async fn patch_here(&self, caller: Actor<'_>, namespace: &str, request: &PatchRequest) -> Result<(Arc<Namespace<C::Compiled>>, Arc<Namespace<C::Compiled>>, Duration), DeployError> {
        let started = Instant::now();
        self.sync_templates().await?;
        let _changes = self.changes.lock().await;
        let ns = self.performance(namespace)?;
        let template = self.templates.get(&ns.template).ok_or_else(|| DeployError::TemplateGone(ns.template.clone()))?;
        let params = match &request.params {
            patch if patch.is_empty() => ns.params.clone(),
            patch => {
                let mut merged = match serde_json::to_value(&ns.params).map_err(anyhow::Error::from)? {
                    Value::Object(map) => map,
                    _ => unreachable!("params serialize to an object"),
                };
                for (key, value) in patch {
                    if !PATCHABLE.contains(&key.as_str()) {
                        return Err(DeployError::NotPatchable(key.clone()));
                    }
                    match value {
                        Value::Null => merged.remove(key),
                        v => merged.insert(key.clone(), v.clone()),
                    };
                }
                template.validate(&Value::Object(merged))?
            }
        };
        self.check_poster(&params, ns.params.poster.as_deref()).await?;
        self.check_prices(&ns, &params).await?;
        let mut spec = ns.spec.clone();
        // The owner's namespace token acts as the owner.
        let owner = (!caller.admin).then_some(ns.owner.as_str());
        self.swap_components(owner, &mut spec.components, &request.components).await?;
        let params_json = serde_json::to_string(&params).map_err(anyhow::Error::from)?;
        let spec_json = serde_json::to_string(&spec).map_err(anyhow::Error::from)?;
        let updated = Arc::new(ns.successor(params, params_json.clone(), spec, &self.pool)?);
        if let Err(e) = self.shared.catalog.update_performance(namespace, &params_json, &spec_json).await {
            self.settle(namespace, &ns.deployment).await;
            return Err(e.into());
        }
        self.registry.publish(updated.clone());
        Ok((ns, updated, started.elapsed()))
    }

    /// Refuses a poster the store does not keep (`was`: the one the performance shows now).
    async fn check_poster(&self, params: &PerformanceParams, was: Option<&str>) -> Result<(), DeployError> {
        match params.poster.as_deref() {
            Some(digest) if Some(digest) != was && self.shared.catalog.poster(digest).await?.is_none() => {
                Err(FieldError::new("params.poster", "no poster has this digest: upload it first (POST /api/v1/posters)").into())
            }
            _ => Ok(()),
        }
    }

    /// Refuses a change of anything but prices in a live performance's sections and goods (or
    /// labels of its sessions), and
    /// a new price for a section or goods with tickets sold or held in any session: those
    /// were bought at the price they were shown.
    async fn check_prices(&self, ns: &Namespace<C::Compiled>, params: &PerformanceParams) -> Result<(), DeployError> {
        let repriced = marquee_ticketing::templates::repriced(&ns.params, params).map_err(DeployError::NotPatchable)?;
        if repriced.is_empty() {
            return Ok(());
        }
        let sales = ns.inventory.report().await?;
        let sections = sales.sections();
        for price in repriced {
            let counted = if price.goods { &sales.goods } else { &sections };
            if counted.iter().any(|c| c.name == price.name && c.sold + c.held > 0) {
                return Err(DeployError::PriceLocked(price));
            }
        }
        Ok(())
    }

    /// Applies `{role: reference}` swaps to a performance's functions.
    async fn swap_components(&self, owner: Option<&str>, components: &mut BTreeMap<String, String>, swaps: &BTreeMap<String, String>) -> Result<(), DeployError> {
        for (role, reference) in swaps {
            if !components.contains_key(role) {
                return Err(DeployError::UnknownFunction(role.clone()));
            }
            components.insert(role.clone(), self.component_for(owner, role, reference).await?);
        }
        Ok(())
    }

    /// Takes a performance down. Refused (409) while it has confirmed orders: only
    /// [`App::cancel`] ends those, by refunding them. No order row is ever removed.
    pub async fn undeploy(&self, namespace: &str) -> Result<(), DeployError> {
        let ns = self.performance(namespace)?;
        if let Err(orders) = ns.inventory.close_unsold().await? {
            return Err(DeployError::HasOrders { namespace: namespace.to_owned(), orders });
        }
        self.retire(&ns).await
    }

    /// Cancels a performance: stops its sales, refunds and cancels every confirmed order
    /// (its buyers keep seeing them, as cancelled), then archives it. Returns the count.
    pub async fn cancel(&self, namespace: &str) -> Result<usize, DeployError> {
        let ns = self.performance(namespace)?;
        let cancelled = ns.inventory.cancel_all().await?;
        self.retire(&ns).await?;
        Ok(cancelled)
    }

    /// A live performance, or why there is none.
    fn performance(&self, namespace: &str) -> Result<Arc<Namespace<C::Compiled>>, DeployError> {
        self.registry.get(namespace).ok_or_else(|| DeployError::PerformanceNotFound(namespace.to_owned()))
    }

    /// Unpublishes a performance whose sales are closed, archiving it if it has orders.
    async fn retire(&self, ns: &Namespace<C::Compiled>) -> Result<(), DeployError> {
        let archive = !ns.inventory.orders_after(None, 1).await?.is_empty();
        self.unpublish(&ns.name, &ns.deployment, archive).await?;
        // The deletion stands (orders may be refunded already); runtimes learn of it when the
        // directory takes it, and the components' own data goes with it, archived or not.
        self.settle(&ns.name, &ns.deployment).await;
        Ok(())
    }

    /// Takes a performance out of the store and out of service here (archived with `archive`).
    async fn unpublish(&self, namespace: &str, deployment: &str, archive: bool) -> Result<()> {
        let _changes = self.changes.lock().await;
        if let Err(e) = self.shared.catalog.remove_performance(namespace, deployment, crate::clock::now_secs(), archive).await {
            // It may yet land: the catalog is made to say what is served here.
            self.settle(namespace, deployment).await;
            return Err(e);
        }
        self.stop_serving(namespace);
        Ok(())
    }

    /// Takes a performance out of service here, with its history.
    fn stop_serving(&self, namespace: &str) {
        if let Some(ns) = self.registry.remove(namespace) {
            self.history.forget(&ns.deployment);
        }
    }

    /// A buyer's orders in every performance, live or archived, newest first.
    pub async fn orders_of_buyer(&self, buyer: &str) -> Result<Vec<BuyerOrder>> {
        self.shared.claims.orders_of_buyer(buyer, &*self.shared.catalog).await
    }
}

/// Cluster mode: why the cluster gives no namespace to this name.
fn cluster_refusal(name: &str, refused: crate::mirror::Refused) -> DeployError {
    use crate::mirror::Refused;
    match refused {
        Refused::Reserved(why) => DeployError::Reserved { name: name.to_owned(), why },
        Refused::Taken(why) => DeployError::NamespaceTaken(why),
        Refused::Unavailable(e) => {
            tracing::error!(namespace = %name, error = format!("{e:#}"), "could not look up the namespace");
            DeployError::ClusterUnavailable
        }
    }
}

fn namespace_taken(namespace: &str) -> DeployError {
    DeployError::NamespaceTaken(format!("namespace {namespace:?} is taken"))
}

/// On an empty store, creates the admin from `MARQUEE_ADMIN_EMAIL` / `MARQUEE_ADMIN_PASSWORD`,
/// or prints a generated one-time password once.
async fn bootstrap_admin(identity: &dyn Identity) -> Result<()> {
    if identity.account_count().await? > 0 {
        return Ok(());
    }
    let email = std::env::var("MARQUEE_ADMIN_EMAIL").unwrap_or_else(|_| "admin@marquee.local".into());
    let email = auth::normalize_email(&email).map_err(|e| anyhow::anyhow!("MARQUEE_ADMIN_EMAIL: {e}"))?;
    let (password, generated) = match std::env::var("MARQUEE_ADMIN_PASSWORD") {
        Ok(p) => (p, false),
        Err(_) => (auth::random_hex(12), true),
    };
    auth::check_password_strength(&password).map_err(|e| anyhow::anyhow!("MARQUEE_ADMIN_PASSWORD: {e}"))?;
    let account = Account {
        id: auth::random_hex(8),
        email: email.clone(),
        password_hash: auth::hash_password(&password)?,
        role: marquee_identity::Role::Admin,
        must_change_password: generated,
    };
    // Another process on the same store may have made it first: then it printed the password.
    let inserted = identity.insert_account(&account, crate::clock::now_secs()).await?;
    if generated && inserted {
        eprintln!(
            "marquee: created admin {email} with one-time password {password} (shown once; change it before the first log-in: \
             POST /api/v1/auth/password, or set MARQUEE_ADMIN_PASSWORD on first start to choose)"
        );
    }
    Ok(())
}

/// Keeps this process's token keys and revoked sessions in step with every other process on
/// the same store: a revocation anywhere refuses its access tokens here within milliseconds.
fn watch_identity(shared: &dyn SharedStore, auth: &Arc<Auth>) {
    let auth = Arc::downgrade(auth);
    shared.watch_identity(Box::new(move |event| {
        let Some(auth) = auth.upgrade() else { return };
        match event {
            IdentityEvent::Revoked(family) => auth.revoke(family),
            IdentityEvent::Resync | IdentityEvent::KeysRotated => {
                tokio::spawn(async move {
                    if let Err(e) = auth.reload().await {
                        tracing::warn!(error = %format!("{e:#}"), "could not reload token keys and revocations");
                    }
                });
            }
        }
    }));
}
