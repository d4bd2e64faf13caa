//! A deployed performance: its namespace, its pinned functions and routes, its inventory.
//! The registry maps namespace names to live performances; publishing one is a single map
//! insert, so a deploy is visible to the next request at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use marquee_identity::Auth;
use marquee_store::PerformanceRow;
use marquee_ticketing::{Commerce, Inventory};
use crate::components::Components;
use marquee_telemetry::{FunctionMetrics, Metrics};
use marquee_ticketing::templates::{PerformanceParams, RouteLimit, RouteSpec, TemplateLimits};
use prometheus::IntGauge;
use std::time::Duration;

/// What a namespace runs, pinned when it is deployed: later template changes or new
/// built-in versions do not alter it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Function role -> component digest.
    pub components: BTreeMap<String, String>,
    /// Which function answers which path.
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    /// The template's limits, as asked (resolved by [`Limits`]).
    pub limits: TemplateLimits,
}

/// Largest linear memory one instance may grow to.
pub const MAX_INSTANCE_MEMORY: usize = 64 << 20;

/// Platform-wide ceilings and defaults of the per-namespace limits.
const MAX_CONCURRENCY: u32 = 256;
const DEFAULT_CONCURRENCY: u32 = 64;
const MAX_QUEUE: u32 = 4096;
const DEFAULT_QUEUE: u32 = 256;

/// Instances of one namespace running Wasm at once: one per core, so a namespace alone can
/// use the whole machine, and no more.
pub fn running_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A namespace's limits, resolved against the platform's ceilings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests waiting for a slot before more are refused.
    pub queue: usize,
    /// Largest linear memory of one instance.
    pub memory_bytes: usize,
    /// Wall-clock and CPU budget of one request.
    pub timeout: Duration,
}

impl Limits {
    fn resolve(asked: TemplateLimits, max_timeout: Duration) -> Self {
        let max_memory_mib = (MAX_INSTANCE_MEMORY >> 20) as u32;
        Self {
            concurrency: asked.concurrency.unwrap_or(DEFAULT_CONCURRENCY).clamp(1, MAX_CONCURRENCY) as usize,
            queue: asked.queue.unwrap_or(DEFAULT_QUEUE).min(MAX_QUEUE) as usize,
            memory_bytes: (asked.memory_mib.unwrap_or(max_memory_mib).clamp(1, max_memory_mib) as usize) << 20,
            timeout: asked.timeout_ms.map(Duration::from_millis).unwrap_or(max_timeout).min(max_timeout),
        }
    }
}

/// Services every namespace's host calls use.
pub struct Shared {
    /// Where each performance's claims and orders live.
    pub claims: Arc<dyn marquee_store::Claims>,
    /// What the control plane keeps: performances, templates, uploads, deploy tokens.
    pub catalog: Arc<dyn marquee_store::Catalog>,
    /// The `kv` interface's store.
    pub kv: Arc<dyn marquee_store::KeyValue>,
    /// Signs and verifies tokens.
    pub auth: Arc<Auth>,
    /// Payments and the ticket signer.
    pub commerce: Arc<Commerce>,
    /// Per-function and per-performance metrics.
    pub metrics: Arc<Metrics>,
    /// The namespaces that ran lately, which the fair scheduler looks at each tick.
    pub active: Arc<crate::fair::Active>,
    /// The namespaces the history sampler looks at next.
    pub touched: Touched,
    /// The longest a request may take anywhere (`--request-timeout-ms`).
    pub max_timeout: Duration,
}

/// A route resolved to its compiled component (`F`, the Wasm host's).
pub struct Route<F> {
    /// The path pattern (`/api/hold`, `/{*rest}`).
    pub pattern: String,
    /// The function role it runs.
    pub function: Arc<str>,
    /// Its compiled component.
    pub component: Arc<F>,
    /// Its rate limit per client, if the template sets one.
    pub rate_limit: Option<RouteLimit>,
    /// Its function's metrics.
    pub metrics: Arc<FunctionMetrics>,
}

/// A live performance, its routes resolved to compiled components of type `F`.
pub struct Namespace<F> {
    /// Its name (its namespace).
    pub name: String,
    /// This deployment's id: a performance deployed again is another deployment.
    pub deployment: String,
    /// The owner's account id.
    pub owner: String,
    /// The template it was deployed from.
    pub template: String,
    /// When it was deployed, in seconds since the Unix epoch.
    pub created_at: i64,
    /// Its validated parameters.
    pub params: PerformanceParams,
    /// The params as handed to components (`config.params`).
    pub params_json: String,
    /// What it runs, pinned.
    pub spec: Spec,
    /// Its routes, resolved.
    pub routes: Vec<Route<F>>,
    /// Its seats, units and orders.
    pub inventory: Arc<Inventory>,
    /// The services its host calls use.
    pub shared: Arc<Shared>,
    /// Its limits, resolved.
    pub limits: Limits,
    /// Instance slots: a flooded namespace waits on its own, not on its neighbours'.
    pub slots: Arc<Slots>,
    /// What every request's `config` and `kv` capabilities hold.
    pub guest: Guest,
    /// [`Self::digest`], computed on first use: a namespace never changes, a change is a successor.
    digest: std::sync::OnceLock<String>,
}

/// A namespace's instance slots and the bounded queue in front of them.
pub struct Slots {
    /// Instance slots: requests in flight.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Instances that may run Wasm at this moment (see [`crate::fair`]).
    pub running: Arc<tokio::sync::Semaphore>,
    /// Requests waiting for a permit, as a gauge.
    pub queued: IntGauge,
    /// The namespace's CPU use, which decides whether it runs in the background.
    pub usage: Arc<crate::fair::Usage>,
    /// Whether it is listed in [`Shared::touched`].
    pub touched: AtomicBool,
}

/// What a performance's components are told of it and keep (`config`, `kv`), shared by every
/// request so that handing it over only counts references.
#[derive(Clone)]
pub struct Guest {
    /// Its name.
    pub namespace: Arc<str>,
    /// The params as JSON.
    pub params: Arc<str>,
    /// The scope of its `kv` data: the deployment, so a namespace deployed again starts empty.
    pub kv_scope: Arc<str>,
}

impl<F> Namespace<F> {
    /// Resolves a stored performance against the pool, over its claims in the store (the
    /// embedded one replays the performance's logged orders).
    pub async fn build<C: Components<Compiled = F>>(row: &PerformanceRow, pool: &C, shared: Arc<Shared>) -> Result<Self> {
        let params: PerformanceParams = serde_json::from_str(&row.params).context("stored params")?;
        let spec: Spec = serde_json::from_str(&row.spec).context("stored spec")?;
        let routes = resolve_routes(&spec, pool, |role| Arc::new(shared.metrics.function(&row.namespace, role)))?;
        let sales = shared.metrics.sales(&row.namespace);
        let (deployment, commerce) = (&row.deployment, shared.commerce.clone());
        let inventory = Arc::new(Inventory::open(deployment, &params, commerce, sales, &*shared.claims).await?);
        let limits = Limits::resolve(spec.limits, shared.max_timeout);
        let slots = Arc::new(Slots {
            permits: Arc::new(tokio::sync::Semaphore::new(limits.concurrency)),
            running: Arc::new(tokio::sync::Semaphore::new(running_permits())),
            queued: shared.metrics.queued(&row.namespace),
            usage: Arc::new(crate::fair::Usage::new(shared.metrics.cpu(&row.namespace), shared.active.clone())),
            touched: Default::default(),
        });
        Ok(Self {
            guest: Guest { namespace: Arc::from(row.namespace.as_str()), params: Arc::from(row.params.as_str()), kv_scope: Arc::from(row.deployment.as_str()) },
            name: row.namespace.clone(),
            deployment: row.deployment.clone(),
            owner: row.owner.clone(),
            template: row.template.clone(),
            created_at: row.created_at,
            params_json: row.params.clone(),
            params,
            spec,
            routes,
            inventory,
            shared,
            limits,
            slots,
            digest: std::sync::OnceLock::new(),
        })
    }

    /// Notes that the performance may have changed: the history sampler looks at it next.
    pub fn touch(&self) {
        self.shared.touched.touch(&self.slots.touched, &self.name);
    }

    /// The performance as stored.
    pub fn row(&self) -> PerformanceRow {
        PerformanceRow {
            namespace: self.name.clone(),
            deployment: self.deployment.clone(),
            owner: self.owner.clone(),
            template: self.template.clone(),
            params: self.params_json.clone(),
            spec: serde_json::to_string(&self.spec).expect("a spec serializes"),
            created_at: self.created_at,
        }
    }

    /// The sha256 of the performance as stored: what a runtime reports serving and what the
    /// Kubernetes operator waits for before it calls the performance Ready.
    pub fn digest(&self) -> &str {
        self.digest.get_or_init(|| {
            use sha2::Digest;
            let record = serde_json::to_string(&self.row()).expect("a row serializes");
            hex::encode(sha2::Sha256::digest(record.as_bytes()))
        })
    }

    /// The same performance with new parameters and functions, over the same claims (its
    /// inventory's successor, at the new prices): in-flight requests finish on the old value,
    /// new ones see the new one.
    pub fn successor<C: Components<Compiled = F>>(&self, params: PerformanceParams, params_json: String, spec: Spec, pool: &C) -> Result<Self> {
        let routes = resolve_routes(&spec, pool, |role| {
            match self.routes.iter().find(|r| &*r.function == role) {
                Some(route) => route.metrics.clone(),
                None => Arc::new(self.shared.metrics.function(&self.name, role)),
            }
        })?;
        let inventory = Arc::new(self.inventory.successor(&params));
        Ok(Self {
            guest: Guest { params: Arc::from(params_json.as_str()), ..self.guest.clone() },
            name: self.name.clone(),
            deployment: self.deployment.clone(),
            owner: self.owner.clone(),
            template: self.template.clone(),
            created_at: self.created_at,
            params,
            params_json,
            spec,
            routes,
            inventory,
            shared: self.shared.clone(),
            limits: self.limits,
            slots: self.slots.clone(),
            digest: std::sync::OnceLock::new(),
        })
    }

    /// The index in `routes` of the route serving a path inside the namespace; the first
    /// match wins.
    pub fn route(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| marquee_ticketing::templates::route_matches(&r.pattern, path))
    }
}

/// Resolves a spec's routes to compiled components, with each function's metrics.
fn resolve_routes<C: Components>(spec: &Spec, pool: &C, metrics: impl Fn(&str) -> Arc<FunctionMetrics>) -> Result<Vec<Route<C::Compiled>>> {
    let mut loaded = HashMap::new();
    for (role, digest) in &spec.components {
        let component = pool.get(digest).with_context(|| format!("function {role}"))?;
        loaded.insert(role.as_str(), (component, metrics(role)));
    }
    spec.routes
        .iter()
        .map(|r| {
            let (component, metrics) = loaded.get(r.function.as_str()).context("route to a function not in the spec")?;
            Ok(Route {
                pattern: r.path.clone(),
                function: Arc::from(r.function.as_str()),
                component: component.clone(),
                rate_limit: r.rate_limit,
                metrics: metrics.clone(),
            })
        })
        .collect()
}

/// The performances that served a request since they were last sampled.
#[derive(Default)]
pub struct Touched(Mutex<Vec<String>>);

impl Touched {
    /// Marks a performance by its flag, listing it once until the sampler clears the flag.
    pub fn touch(&self, flag: &AtomicBool, name: &str) {
        if !flag.load(Relaxed) && !flag.swap(true, Relaxed) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_owned());
        }
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Live performances by namespace.
pub struct Registry<F> {
    map: RwLock<Live<F>>,
}

impl<F> Default for Registry<F> {
    fn default() -> Self {
        Self { map: RwLock::new(Live { by_name: HashMap::new(), names: HashMap::new(), per_owner: HashMap::new() }) }
    }
}

struct Live<F> {
    by_name: HashMap<String, Arc<Namespace<F>>>,
    /// Each live deployment's name, so work queued for a deployment (mail) finds it at once.
    names: HashMap<String, String>,
    /// How many each owner has, for the quota: counted as they come and go, not by a walk.
    per_owner: HashMap<String, usize>,
}

impl<F> Registry<F> {
    /// A live performance by name.
    pub fn get(&self, name: &str) -> Option<Arc<Namespace<F>>> {
        self.map.read().unwrap().by_name.get(name).cloned()
    }

    /// A live performance by deployment.
    pub fn by_deployment(&self, deployment: &str) -> Option<Arc<Namespace<F>>> {
        let live = self.map.read().unwrap();
        live.names.get(deployment).and_then(|name| live.by_name.get(name)).cloned()
    }

    /// Serves a performance (a new one, or a successor replacing its predecessor).
    pub fn publish(&self, ns: Arc<Namespace<F>>) {
        ns.touch();
        let mut live = self.map.write().unwrap();
        let owner = ns.owner.clone();
        live.names.insert(ns.deployment.clone(), ns.name.clone());
        if let Some(previous) = live.by_name.get(&ns.name).filter(|p| p.deployment != ns.deployment).map(|p| p.deployment.clone()) {
            live.names.remove(&previous);
        }
        match live.by_name.insert(ns.name.clone(), ns.clone()) {
            Some(previous) if previous.owner == owner => {}
            previous => {
                if let Some(previous) = previous {
                    live.release(&previous.owner);
                }
                *live.per_owner.entry(owner).or_default() += 1;
            }
        }
        ns.shared.metrics.performances.set(live.by_name.len() as i64);
    }

    /// Stops serving a performance; the one removed, if it was live.
    pub fn remove(&self, name: &str) -> Option<Arc<Namespace<F>>> {
        let mut live = self.map.write().unwrap();
        let removed = live.by_name.remove(name)?;
        live.names.remove(&removed.deployment);
        live.release(&removed.owner);
        removed.shared.metrics.performances.set(live.by_name.len() as i64);
        removed.shared.metrics.forget(name);
        Some(removed)
    }

    /// How many live performances `owner` has.
    pub fn owned_by(&self, owner: &str) -> usize {
        self.map.read().unwrap().per_owner.get(owner).copied().unwrap_or(0)
    }

    /// Every live performance, oldest first.
    pub fn all(&self) -> Vec<Arc<Namespace<F>>> {
        let mut all: Vec<_> = self.map.read().unwrap().by_name.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        all
    }

    /// How many performances are live.
    pub fn len(&self) -> usize {
        self.map.read().unwrap().by_name.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F> Live<F> {
    fn release(&mut self, owner: &str) {
        if let Some(count) = self.per_owner.get_mut(owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_limits_are_capped_by_the_platform() {
        let max = Duration::from_secs(10);
        let defaults = Limits::resolve(TemplateLimits::default(), max);
        assert_eq!((defaults.concurrency, defaults.queue), (DEFAULT_CONCURRENCY as usize, DEFAULT_QUEUE as usize));
        assert_eq!((defaults.memory_bytes, defaults.timeout), (MAX_INSTANCE_MEMORY, max));
        let greedy = TemplateLimits { concurrency: Some(100_000), queue: Some(1 << 30), memory_mib: Some(4096), timeout_ms: Some(3_600_000) };
        let capped = Limits::resolve(greedy, max);
        assert_eq!((capped.concurrency, capped.queue), (MAX_CONCURRENCY as usize, MAX_QUEUE as usize));
        assert_eq!((capped.memory_bytes, capped.timeout), (MAX_INSTANCE_MEMORY, max));
        let modest = TemplateLimits { concurrency: Some(0), queue: Some(0), memory_mib: Some(8), timeout_ms: Some(500) };
        let modest = Limits::resolve(modest, max);
        assert_eq!((modest.concurrency, modest.queue, modest.memory_bytes), (1, 0, 8 << 20));
        assert_eq!(modest.timeout, Duration::from_millis(500));
    }
}
