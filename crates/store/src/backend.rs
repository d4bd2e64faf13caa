//! A backend as the domain sees it: one bundle of trait objects, built once where the process
//! is assembled (`runtime/`), so no code past that point knows which store it runs on.

use std::sync::Arc;

use crate::{BoxFuture, Catalog, ClaimStore, Directory, Identity, KeyValue, OrderRow, Outbox, RateBuckets, Snapshot, StoredOrder, Units};

/// Everything a platform keeps, behind the traits of this crate.
#[derive(Clone)]
pub struct Backend {
    /// What the backend is (`embedded`, `redis`), for logs and the health answer.
    pub name: &'static str,
    /// Accounts, refresh-token families and token keys.
    pub identity: Arc<dyn Identity>,
    /// What the control plane keeps.
    pub catalog: Arc<dyn Catalog>,
    /// The `kv` interface's data.
    pub kv: Arc<dyn KeyValue>,
    /// Rate-limit buckets.
    pub buckets: Arc<dyn RateBuckets>,
    /// Each performance's claims and orders.
    pub claims: Arc<dyn Claims>,
    /// The ticket signer's keys.
    pub secrets: Arc<dyn Secrets>,
    /// Mail owed to buyers.
    pub outbox: Arc<dyn Outbox>,
    /// What a backup reads and a restore writes.
    pub snapshot: Arc<dyn Snapshot>,
    /// What other processes on the same store see of this one; `None` when this process
    /// alone serves the platform.
    pub shared: Option<Arc<dyn SharedStore>>,
}

/// An order's claims rebuilt from its record, for a store that keeps only its order log.
pub struct Restored {
    /// The hold the order was confirmed from.
    pub hold_id: String,
    /// Its session.
    pub session: String,
    /// The seats it owns.
    pub seats: Vec<String>,
    /// The units it owns, per pool.
    pub units: Vec<Units>,
    /// The tickets it counts toward its buyer's limit.
    pub tickets: u32,
    /// What its buyer paid, in minor units.
    pub amount: u64,
    /// When it was confirmed, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// The order as stored.
    pub order: StoredOrder,
}

/// Turns a logged order back into its claims; `None` for an order the performance no longer
/// sells (its session is gone).
pub type Replay<'a> = &'a (dyn Fn(&OrderRow) -> anyhow::Result<Option<Restored>> + Sync);

/// An order of a buyer with the performance it belongs to.
pub struct BuyerOrder {
    /// The order as logged, with its status now.
    pub order: OrderRow,
    /// The performance's name.
    pub namespace: String,
    /// The performance's params as stored (title, venue, ...).
    pub params: String,
    /// Set when the performance was cancelled and archived (seconds).
    pub archived_at: Option<i64>,
}

/// Where each performance's claims live.
pub trait Claims: Send + Sync {
    /// A deployment's claims. A store that keeps only a log of orders (the embedded one)
    /// reads it off the async workers and rebuilds the claims of each with `replay`; one that
    /// keeps the claims needs not.
    fn open<'a>(&'a self, deployment: &'a str, hold_ttl_ms: u64, replay: Replay<'a>) -> BoxFuture<'a, Arc<dyn ClaimStore>>;

    /// A buyer's orders in every performance of `catalog`, live or archived, newest first.
    fn orders_of_buyer<'a>(&'a self, buyer: &'a str, catalog: &'a dyn Catalog) -> BoxFuture<'a, Vec<BuyerOrder>>;
}

/// Secrets every process of a platform shares (the ticket signing key).
pub trait Secrets: Send + Sync {
    /// The secret `name`: the first process to ask stores `candidate`, every one gets the one
    /// stored.
    fn secret<'a>(&'a self, name: &'a str, candidate: &'a str) -> BoxFuture<'a, String>;
}

/// What [`SharedStore::watch_directory`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryEvent {
    /// The subscription (re)started: read every performance again.
    Resync,
    /// This performance was written or removed.
    Changed(String),
}

/// What another process changed, as [`SharedStore::watch_identity`] hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityEvent {
    /// The subscription (re)started: anything may have changed while it was down.
    Resync,
    /// A session family was revoked: its access tokens must be refused at once.
    Revoked(String),
    /// A token key was added.
    KeysRotated,
}

/// A store several processes share: the directory they serve from, the changes they tell each
/// other of, and what each reports.
pub trait SharedStore: Directory {
    /// Calls `on` for every change of a performance, and with `Resync` each time the
    /// subscription (re)starts, for as long as the process runs.
    fn watch_directory(&self, on: Box<dyn Fn(DirectoryEvent) + Send + Sync>);

    /// Calls `on` for every revocation and key rotation any process makes, and with `Resync`
    /// each time the subscription (re)starts.
    fn watch_identity(&self, on: Box<dyn Fn(IdentityEvent) + Send + Sync>);

    /// Whether the store answers a health check in time.
    fn ping(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>>;

    /// Tells the store which performances a runtime serves: (namespace, spec digest).
    fn report_serving<'a>(&'a self, process: &'a str, served: &'a [(String, String)]) -> BoxFuture<'a, ()>;

    /// Writes a process's counters of a deployment (opaque records by function).
    fn put_counters<'a>(&'a self, deployment: &'a str, process: &'a str, counters: &'a [(String, String)]) -> BoxFuture<'a, ()>;

    /// Every other process's counters of a deployment: (process, function, record).
    fn counters<'a>(&'a self, deployment: &'a str, except: &'a str) -> BoxFuture<'a, Vec<(String, String, String)>>;
}

/// A store that did not answer (down, unreachable, too slow), as a backend reports it: the
/// caller may try again, and the platform answers 503 rather than 500.
#[derive(Debug)]
pub struct Unavailable(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the store did not answer: {}", self.0)
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Whether one error of a chain is a store not answering.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    error.is::<Unavailable>()
}

/// Whether a call failed because the store did not answer rather than refused it.
pub fn unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(is_unavailable)
}
