//! Work the platform owes someone after the answer that caused it (a buyer's mail, a refund the
//! payment provider failed), kept in the store so a slow or dead receiver (a mail relay, the
//! provider) never blocks the answer and never loses it. Each kind of work is a queue, emptied
//! by its own worker; any process may work: a message is leased to one at a time, so two never
//! send it at once.

use crate::BoxFuture;

/// A message of the outbox. Its body is the caller's (what to send, as JSON); the store keeps
/// when it is due and how its tries went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Unique: putting a message whose id is taken changes nothing, so a retried step never
    /// sends twice.
    pub id: String,
    /// The queue it waits in (`mail`, `refunds`).
    pub queue: String,
    /// Whose messages these are (a performance's deployment), for listing them.
    pub scope: String,
    /// What to send.
    pub body: String,
    /// When it was put, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// When it is next due (sent or dropped: when that was).
    pub due_at: u64,
    /// How many times it was claimed.
    pub attempts: u32,
    /// Why the last try failed, if it did.
    pub last_error: Option<String>,
    /// Where it stands.
    pub state: Delivery,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Waiting for its time, a sender, or a retry.
    Queued,
    /// Sent.
    Sent,
    /// Not sent and never will be (what it was about is gone, say a reminder of a cancelled order).
    Dropped,
}

impl Delivery {
    /// The state as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::Dropped => "dropped",
        }
    }

    /// A stored state; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        [Delivery::Queued, Delivery::Sent, Delivery::Dropped].into_iter().find(|d| d.as_str() == text)
    }
}

/// The platform's outbox, shared by every process of a store.
pub trait Outbox: Send + Sync {
    /// Puts a message in `queue`, due at `due_at`, durably before it answers; `Ok(false)`:
    /// its id was taken, and nothing changed.
    fn put<'a>(&'a self, queue: &'a str, id: &'a str, scope: &'a str, body: &'a str, now: u64, due_at: u64) -> BoxFuture<'a, bool>;

    /// Claims up to `limit` messages of `queue` due at `now`, soonest due first, each leased
    /// to the caller until `now + lease_ms`: no other claim gets one before that, and one the
    /// caller never settles is due again then. Each claim counts an attempt.
    fn claim<'a>(&'a self, queue: &'a str, now: u64, lease_ms: u64, limit: usize) -> BoxFuture<'a, Vec<Message>>;

    /// A claimed message was sent (`Sent`) or will never be (`Dropped`), at `at`.
    fn settle<'a>(&'a self, id: &'a str, state: Delivery, at: u64) -> BoxFuture<'a, ()>;

    /// A try failed: the message is due again at `retry_at`, with the error kept.
    fn retry<'a>(&'a self, id: &'a str, error: &'a str, retry_at: u64) -> BoxFuture<'a, ()>;

    /// How many messages of `queue` are queued (due or not).
    fn queued<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, u64>;

    /// Forgets up to `limit` settled messages settled before `before`; how many it forgot.
    /// Queued ones are kept whatever their age.
    fn prune(&self, before: u64, limit: usize) -> BoxFuture<'_, u64>;

    /// A scope's messages of every queue, newest first, at most `limit`.
    fn recent<'a>(&'a self, scope: &'a str, limit: usize) -> BoxFuture<'a, Vec<Message>>;
}
