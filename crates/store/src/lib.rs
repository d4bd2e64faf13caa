//! The store traits: what every process serving one performance must agree on.
//!
//! A backend stores claims, not catalogues: a performance's inventory is numbered seats (each
//! owned by at most one hold or order) and counted pools (a general-admission section of one
//! session, or goods shared by every session) with a capacity the caller states. What a seat id
//! means, what things cost and what a ticket is called stay with the caller; the backend keeps
//! the invariant that no seat and no unit is claimed twice, holds that expire by the store's
//! clock, idempotency keys, per-buyer and per-address counts, and the orders. [`Identity`]
//! keeps accounts, refresh-token families and token keys; [`Catalog`] the control plane's
//! performances, templates, uploads and deploy tokens. A [`Backend`] bundles one backend's
//! implementations, built once where a process is assembled.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod backend;
mod catalog;
mod outbox;
mod snapshot;
pub mod clock;
pub mod files;
#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::{
    Backend, BuyerOrder, Claims, DirectoryEvent, IdentityEvent, Replay, Restored, Secrets, SharedStore, Unavailable, is_unavailable, unavailable,
};
pub use catalog::{Catalog, ComponentRow, DeploymentRow, NamespaceToken, PerformanceRow, TokenScope};
pub use outbox::{Delivery, Message, Outbox};
pub use snapshot::{AccountRecord, NamespaceTokenRecord, Page, RefreshToken, Snapshot};

/// Runs store calls a few at a time, answers in order: over a multiplexed connection they are
/// pipelined, and the embedded store's blocking threads stay few.
pub async fn a_few_at_a_time<T>(asks: Vec<impl Future<Output = anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(asks).buffered(32).try_collect().await
}

/// What a store call returns when its backend is picked at run time (`dyn` traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// The key-value store of the `kv` interface: one scope per deployed performance, so a
/// component reads and writes only its own.
pub trait KeyValue: Send + Sync {
    /// A key's value in a scope, if it has one.
    fn get<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// Sets a key's value in a scope.
    fn set<'a>(&'a self, scope: &'a str, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, ()>;
    /// Removes a key from a scope (a missing key is no error).
    fn delete<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, ()>;
    /// Forgets every key of a scope (its performance is gone).
    fn clear<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, ()>;
}

/// Token buckets (GCRA) shared by every process: `count` calls per `period`, a burst of up to
/// `count` at once, per limit and key (a client address, an account).
pub trait RateBuckets: Send + Sync {
    /// Takes one token from the bucket, or says how long until one is free.
    fn take<'a>(&'a self, limit: &'a str, key: &'a str, count: u32, period: Duration) -> BoxFuture<'a, Result<(), Duration>>;

    /// Forgets idle buckets, for a backend whose buckets do not expire on their own.
    fn shrink(&self) {}
}

/// A counted pool and how much of it a hold takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    /// The pool's key, unique in the performance (`s1/floor`, `goods/shirt`).
    pub pool: String,
    /// Units this hold takes.
    pub quantity: u32,
    /// Units the pool has in all.
    pub capacity: u32,
    /// Most units of this pool one buyer may hold or own at once; 0: no limit of its own
    /// (goods have one; a section's tickets count toward the buyer's ticket limit instead).
    pub per_buyer: u32,
}

/// Everything one hold claims, all or nothing.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    /// The session the hold is for.
    pub session: String,
    /// The hold's id, chosen by the caller.
    pub hold_id: String,
    /// The buyer's account id.
    pub buyer: String,
    /// The client address, whose unpaid tickets are capped per session.
    pub address: Option<String>,
    /// Seats this hold takes (each unique within the session).
    pub seats: Vec<String>,
    /// Counted pools this hold takes units of.
    pub units: Vec<Units>,
    /// Tickets this hold counts toward the buyer's limit (goods count none).
    pub tickets: u32,
    /// Most tickets one buyer may hold or own in the session; 0: no limit.
    pub buyer_limit: u32,
    /// Items this hold counts toward its address's unpaid cap: tickets and goods alike.
    pub unpaid: u32,
    /// Most unpaid items per address per session; 0: no cap.
    pub address_cap: u32,
    /// How long the hold stands unpaid, in milliseconds.
    pub ttl_ms: u64,
    /// The price of everything held, in minor units.
    pub amount: u64,
    /// The idempotency key and the fingerprint of the request it came with.
    pub key: Option<(String, String)>,
    /// The caller's receipt, handed back when the key is sent again.
    pub payload: String,
}

/// A hold that stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The hold's id.
    pub hold_id: String,
    /// When it ends unpaid, in milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// The caller's receipt of it.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What a hold request came to.
pub enum HoldOutcome {
    /// The hold stands.
    Held(Held),
    /// The key was used before for this same request: its hold.
    Existing(Held),
    /// These seats or pools are taken.
    Unavailable(Vec<String>),
    /// The buyer would hold or own more than their limit.
    OverLimit,
    /// The client address would have more unpaid items than its cap.
    AddressLimit,
    /// The key was used before with another request.
    KeyReused,
    /// The key's hold is already an order.
    KeyConfirmed,
    /// The key's hold has ended.
    Expired,
    /// Sales are closed.
    Closed,
}

/// Why a hold or an order cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// There is no such hold or order.
    NotFound,
    /// It existed and has ended (released, expired).
    Expired,
    /// It belongs to another buyer.
    Forbidden,
    /// A confirm is paying for it.
    Busy,
    /// Sales are closed.
    Closed,
    /// A ticket of the order was used at the door: its buyer may not cancel it.
    Used,
    /// Nothing named is left to refund: the order or the tickets were refunded or cancelled.
    Refunded,
}

/// A hold whose payment may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirming {
    /// The session held.
    pub session: String,
    /// What the hold costs, in minor units.
    pub amount: u64,
    /// The receipt the hold was made with.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What starting a confirm found.
pub enum ConfirmStart {
    /// Marked as paying; expiry waits for the lease.
    Ready(Confirming),
    /// Confirmed before (a retry): its order.
    Done(StoredOrder),
    /// It cannot be paid for: why.
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
/// Whether an order stands.
pub enum OrderStatus {
    /// Paid and standing: its tickets admit.
    Confirmed,
    /// Cancelled by its buyer or with its performance (and refunded): its tickets admit nobody.
    Cancelled,
    /// Every ticket refunded by the seller: they admit nobody.
    Refunded,
}

impl OrderStatus {
    /// The status as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// A stored status; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "confirmed" => Some(OrderStatus::Confirmed),
            "cancelled" => Some(OrderStatus::Cancelled),
            "refunded" => Some(OrderStatus::Refunded),
            _ => None,
        }
    }
}

/// An order as stored: the caller's record of it (immutable) and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order's id.
    pub order_id: String,
    /// The buyer's account id.
    pub buyer: String,
    /// The caller's record of the order (an [`OrderRow`] as JSON).
    pub record: String,
    /// Whether it stands.
    pub status: OrderStatus,
    /// The seller's refunds of some of its tickets, oldest first.
    pub refunds: Vec<Refund>,
}

/// A seller's refund of tickets of an order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Refund {
    /// The tickets refunded (their names in the order).
    pub tickets: Vec<String>,
    /// What was paid back, in minor units.
    pub amount: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Refund {
    /// What `refunds` paid back.
    pub fn total(refunds: &[Refund]) -> u64 {
        refunds.iter().map(|r| r.amount).sum()
    }

    /// Whether one of `refunds` refunded `ticket`.
    pub fn covers(refunds: &[Refund], ticket: &str) -> bool {
        refunds.iter().any(|r| r.tickets.iter().any(|t| t == ticket))
    }
}

/// A seller's refund as asked of the store: the tickets, what they claim (so the store frees
/// exactly that) and what they cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The tickets to refund, by name; none may have been refunded before.
    pub tickets: Vec<String>,
    /// The seats they hold.
    pub seats: Vec<String>,
    /// The units of pools they hold.
    pub units: Vec<Units>,
    /// How many of them count toward the buyer's ticket limit.
    pub counted: u32,
    /// Their price, in minor units; the store pays back no more than is left of what was paid.
    pub amount: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// What a refund did: the order as it now is and the refund recorded (its amount as capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// The order as it now is (`Refunded` once no ticket is left).
    pub order: StoredOrder,
    /// The refund recorded.
    pub refund: Refund,
}

/// A session's money: what its orders paid, and what of it was paid back, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    /// Paid by every order confirmed.
    pub gross: u64,
    /// Paid back by refunds and cancellations.
    pub refunded: u64,
}

/// A ticket of an order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TicketRow {
    /// The ticket's name within its performance (a seat, a numbered unit, goods).
    pub seat: String,
    /// The code printed on the ticket.
    pub code: String,
    /// What it cost, in minor units (orders from before prices were kept per ticket have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<u64>,
}

/// An order's record as the platform writes it: a row of the embedded log, and the record a
/// claim store keeps ([`StoredOrder::record`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OrderRow {
    /// The order's id.
    pub id: String,
    /// The deployment (one version of a performance) it was sold by.
    pub deployment: String,
    /// The session it is for.
    pub session: String,
    /// The buyer's account id.
    pub buyer: String,
    /// The hold it was confirmed from.
    pub hold_id: String,
    /// What the buyer paid, in minor units.
    pub amount: u64,
    /// Whether it stands.
    pub status: OrderStatus,
    /// Its tickets.
    pub tickets: Vec<TicketRow>,
    /// The payment provider's id of the charge.
    pub charge_id: String,
    /// When it was confirmed, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// The seller's refunds of some of its tickets (not part of the record: they come later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<Refund>,
}

impl OrderRow {
    /// Whether the seller refunded this ticket.
    pub fn is_refunded(&self, ticket: &str) -> bool {
        Refund::covers(&self.refunds, ticket)
    }

    /// What was paid back: all of it once it no longer stands.
    pub fn refunded(&self) -> u64 {
        match self.status {
            OrderStatus::Confirmed => Refund::total(&self.refunds),
            OrderStatus::Cancelled | OrderStatus::Refunded => self.amount,
        }
    }
}

impl StoredOrder {
    /// The order as its record says, with its status and refunds now.
    pub fn row(&self) -> anyhow::Result<OrderRow> {
        let row: OrderRow = anyhow::Context::context(serde_json::from_str(&self.record), "a stored order")?;
        Ok(OrderRow { status: self.status, refunds: self.refunds.clone(), ..row })
    }
}

/// What a session has claimed: the seats taken (held or sold) and the pools' counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Seats held or sold.
    pub seats: Vec<String>,
    /// Units held or sold of each pool asked for, in the order asked.
    pub units: Vec<u32>,
}

/// A cancel's answer: the order as it now is, and whether this call cancelled it (a
/// cancel of a cancelled order changes nothing, so whoever refunds does it once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    /// The order as it now is.
    pub order: StoredOrder,
    /// Whether this call cancelled it.
    pub now: bool,
}

/// A ticket's entry at the door.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// Which entrance scanned it, if the door said.
    pub door: Option<String>,
}

/// What a scan at the door found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckIn {
    /// The ticket's first entry, now recorded.
    Admitted,
    /// The ticket was used before: its first entry.
    Used(Entry),
    /// Its order is no longer confirmed (cancelled or refunded), or the seller refunded this
    /// ticket (`Refunded`).
    NotConfirmed(OrderStatus),
    /// There is no such ticket in a confirmed or cancelled order.
    NotFound,
}

/// A pool's count: units held or sold, and of those, sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCount {
    /// Units held or sold.
    pub taken: u32,
    /// Of those, units sold.
    pub sold: u32,
}

/// The claims of one performance. Every call is one atomic step of the backend; a
/// `Err` is a fault of the store (unreachable, refused a write), never a refusal.
/// Object-safe, so the backend is picked at run time.
pub trait ClaimStore: Send + Sync {
    /// Claims everything a hold asks for, all or nothing.
    fn hold<'a>(&'a self, request: &'a HoldRequest) -> BoxFuture<'a, HoldOutcome>;

    /// Ends a buyer's unpaid hold.
    fn release<'a>(&'a self, hold_id: &'a str, buyer: &'a str) -> BoxFuture<'a, Result<(), Refusal>>;

    /// Marks a hold as paying for `lease_ms` (past it, a confirm that never finished is swept).
    fn begin_confirm<'a>(&'a self, hold_id: &'a str, buyer: &'a str, lease_ms: u64) -> BoxFuture<'a, ConfirmStart>;

    /// Turns a paying hold into an order, durably before it answers; its pools count the
    /// units as sold. `Ok(false)`: the hold's lease ran out and it was swept; the caller refunds.
    fn commit_confirm<'a>(&'a self, hold_id: &'a str, order_id: &'a str, created_at: u64, record: &'a str) -> BoxFuture<'a, bool>;

    /// The payment failed: the hold is unpaid again, with its old expiry.
    fn abort_confirm<'a>(&'a self, hold_id: &'a str) -> BoxFuture<'a, ()>;

    /// Cancels a confirmed order (`buyer` must own it; `None`: the seller), freeing its
    /// claims, durably before it answers. An order already cancelled is answered as it is.
    /// Its buyer may not cancel an order a ticket of which was used at the door
    /// ([`Refusal::Used`]); the seller may.
    fn cancel<'a>(&'a self, order_id: &'a str, buyer: Option<&'a str>) -> BoxFuture<'a, Result<Cancelled, Refusal>>;

    /// Refunds tickets of a confirmed order (the seller), freeing what they claim, durably
    /// before it answers. Refused with [`Refusal::Refunded`] when the order no longer stands or
    /// a ticket named was refunded before, so two refunds at once pay back once. The amount is
    /// capped at what is left of what was paid; once no ticket is left the order is `Refunded`.
    fn refund<'a>(&'a self, order_id: &'a str, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, Refusal>>;

    /// Each session's money (sessions that sold nothing are left out), kept as orders are
    /// confirmed, refunded and cancelled: reading it walks no order.
    fn money(&self) -> BoxFuture<'_, Vec<(String, Money)>>;

    /// An order by id.
    fn order<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Option<StoredOrder>>;

    /// A buyer's orders, oldest first.
    fn orders_of<'a>(&'a self, buyer: &'a str) -> BoxFuture<'a, Vec<StoredOrder>>;

    /// Up to `limit` orders that come after `after` (an order's `(created_at, id)`; `None`:
    /// from the first), oldest first: the seller's list, read a page at a time so a large one
    /// is never in memory at once. An order confirmed meanwhile comes in its place, once.
    fn orders_after<'a>(&'a self, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<StoredOrder>>;

    /// Ids of the confirmed orders.
    fn live_orders(&self) -> BoxFuture<'_, Vec<String>>;

    /// A session's claims; `pools` in the order their counts are wanted.
    fn taken<'a>(&'a self, session: &'a str, pools: &'a [&'a str]) -> BoxFuture<'a, Taken>;

    /// Held and sold counts of pools, in the order asked.
    fn counts<'a>(&'a self, pools: &'a [&'a str]) -> BoxFuture<'a, Vec<PoolCount>>;

    /// Records the entry of a ticket (`ticket` names it within its order) of a confirmed
    /// order, durably before it answers; of two scans at once, one is admitted.
    fn check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, CheckIn>;

    /// Undoes a ticket's entry (a mistaken scan), durably; the entry undone, if there was one.
    fn undo_check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str) -> BoxFuture<'a, Option<Entry>>;

    /// Every live entry: (order, ticket, entry), oldest first.
    fn entries(&self) -> BoxFuture<'_, Vec<(String, String, Entry)>>;

    /// Stops new holds and payments (`true`) or lets them go on.
    fn set_closed(&self, closed: bool) -> BoxFuture<'_, ()>;

    /// Whether a payment is under way.
    fn paying(&self) -> BoxFuture<'_, bool>;
}

/// What an account may do on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Buys tickets.
    Buyer,
    /// Deploys and runs performances.
    Seller,
    /// Runs the platform.
    Admin,
}

impl Role {
    /// The role as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Admin => "admin",
        }
    }

    /// A stored role; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        [Role::Buyer, Role::Seller, Role::Admin].into_iter().find(|r| r.as_str() == text)
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// The account's id.
    pub id: String,
    /// The sign-in email, as given at signup.
    pub email: String,
    /// The password's hash (argon2 PHC string).
    pub password_hash: String,
    /// What it may do.
    pub role: Role,
    /// A generated one-time password that must be changed before the account logs in.
    pub must_change_password: bool,
}

/// What presenting a refresh token (by its hash) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshState {
    /// No such token was issued.
    Unknown,
    /// It was live and is spent now: its successor may be issued.
    /// The token was live and is spent now: its successor may be issued.
    Live {
        /// The session family it belongs to.
        family: String,
        /// Its account.
        account_id: String,
        /// When the session ends, in seconds since the Unix epoch.
        expires_at: i64,
    },
    /// Spent or revoked before: presenting it again means theft, and its family is revoked.
    /// The token was spent or revoked before: its family is revoked now.
    Reused {
        /// The family revoked.
        family: String,
    },
}

/// Accounts, refresh-token families and the token keys: what every process that signs or
/// verifies a token must agree on. Secrets are stored as given (password hashes, hashes of
/// refresh tokens; token keys as the caller encodes them).
pub trait Identity: Send + Sync {
    /// `Ok(false)`: the email is taken.
    fn insert_account<'a>(&'a self, account: &'a Account, now: i64) -> BoxFuture<'a, bool>;
    /// The account with this email, if any.
    fn account_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Option<Account>>;
    /// The account with this id, if any.
    fn account_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Account>>;
    /// How many accounts there are.
    fn account_count(&self) -> BoxFuture<'_, u64>;

    /// Sets a new password (no longer one to change) and revokes every session family of the
    /// account, in one step; returns the families revoked.
    fn set_password<'a>(&'a self, account_id: &'a str, password_hash: &'a str) -> BoxFuture<'a, Vec<String>>;

    /// Records a refresh token (by its hash) of a session family, live until `expires_at`.
    fn insert_refresh<'a>(&'a self, hash: &'a str, family: &'a str, account_id: &'a str, expires_at: i64) -> BoxFuture<'a, ()>;

    /// Spends a refresh token, atomically: of two processes presenting it at once, one gets
    /// `Live`, the other `Reused` (and the family is revoked).
    fn rotate_refresh<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, RefreshState>;

    /// Revokes the family of a refresh token and names it; `None` when the token is unknown.
    fn revoke_family_of<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Option<String>>;

    /// Revoked families whose tokens may still be presented.
    fn revoked_families(&self) -> BoxFuture<'_, Vec<String>>;

    /// The token keys (each a JSON object), newest first. On an empty store, `first` (if
    /// given) becomes the only one; without it an empty store answers none.
    fn token_keys<'a>(&'a self, first: Option<&'a str>) -> BoxFuture<'a, Vec<String>>;

    /// Makes `key` the newest and keeps `kept` keys in all; returns them, newest first.
    fn add_token_key<'a>(&'a self, key: &'a str, kept: usize) -> BoxFuture<'a, Vec<String>>;
}

/// What every runtime process serves: the performances as the control plane last wrote them
/// (each an opaque record) and the bytes of the components they run, so a process can
/// compile a component it has not seen. A backend that several processes share tells them
/// of each change (see the Redis backend's `watch_directory`).
pub trait Directory: Send + Sync {
    /// Writes a performance's record (a new one or a change).
    fn put_performance<'a>(&'a self, namespace: &'a str, record: &'a str) -> BoxFuture<'a, ()>;
    /// Forgets a performance.
    fn remove_performance<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, ()>;
    /// A performance's record, if it is served.
    fn performance<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Option<String>>;
    /// Every performance: (namespace, record), by namespace.
    fn performances(&self) -> BoxFuture<'_, Vec<(String, String)>>;
    /// Stores a component's bytes by digest.
    fn put_component<'a>(&'a self, digest: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()>;
    /// A component's bytes by digest, if stored.
    fn component<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
}
