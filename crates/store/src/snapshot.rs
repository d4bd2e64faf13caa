//! What a backup reads of a store, and what a restore writes into an empty one, beyond what
//! the platform's own traits read and write: every kind of data listed a page at a time, and
//! the records that only a restore puts back as they were (an order with its status and
//! refunds, a spent refresh token, a settled message). One mechanism for every backend, in
//! both directions.

use serde::{Deserialize, Serialize};

use crate::{Account, BoxFuture, Entry, Message, NamespaceToken, OrderRow, PerformanceRow, Restored};

/// An account with when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account.
    #[serde(flatten)]
    pub account: Account,
    /// When it signed up, in seconds since the Unix epoch.
    pub created_at: i64,
}

/// A refresh token as stored: by the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// The sha256 of the token.
    pub hash: String,
    /// Its session family.
    pub family: String,
    /// Its account.
    pub account_id: String,
    /// When it ends, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// 0 live, 1 spent by rotation, 2 revoked with its family.
    pub state: u8,
}

/// A live namespace token as stored: the token, the hash of its secret, when it was issued.
pub type NamespaceTokenRecord = (NamespaceToken, String, i64);

/// A page of a listing and where the next one starts (`None`: this was the last). A backend
/// may hand an item out twice across pages (a Redis `SCAN`); restoring one twice is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

/// What a backup reads and a restore writes, per backend.
pub trait Snapshot: Send + Sync {
    /// A page of about `limit` accounts from `cursor` (`None`: the first page).
    fn accounts<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<AccountRecord>>;
    /// A page of refresh tokens not yet expired at `now`, spent and revoked ones included
    /// (they keep their families refused).
    fn refresh_tokens<'a>(&'a self, cursor: Option<&'a str>, limit: usize, now: i64) -> BoxFuture<'a, Page<RefreshToken>>;
    /// Puts a refresh token back as it was.
    fn put_refresh_token<'a>(&'a self, token: &'a RefreshToken) -> BoxFuture<'a, ()>;

    /// Archived performances with when they were archived.
    fn archived(&self) -> BoxFuture<'_, Vec<(PerformanceRow, i64)>>;
    /// Live namespace tokens.
    fn namespace_tokens(&self) -> BoxFuture<'_, Vec<NamespaceTokenRecord>>;
    /// Every poster's digest.
    fn posters(&self) -> BoxFuture<'_, Vec<String>>;
    /// A page of every scope's `kv`: (scope, key, value).
    fn kv<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<(String, String, Vec<u8>)>>;

    /// A page of outbox messages, in every state.
    fn messages<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<Message>>;
    /// Puts a message back as it was (its state, tries and last error).
    fn put_message<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, ()>;

    /// Up to `limit` of a deployment's orders after `after` (`(created_at, id)`), oldest first,
    /// each with its status and refunds now, read from where they are durable without opening
    /// the deployment's claims.
    fn orders<'a>(&'a self, deployment: &'a str, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<OrderRow>>;
    /// A deployment's live entries at the door: (order, ticket, entry).
    fn entries<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, Vec<(String, String, Entry)>>;
    /// Puts an order back into a store that holds no claims of its deployment yet: its row as
    /// it stands, claiming what `claims` says it still claims (nothing once it no longer
    /// stands); its session's money counts it.
    fn put_order<'a>(&'a self, deployment: &'a str, row: &'a OrderRow, claims: Option<&'a Restored>) -> BoxFuture<'a, ()>;
    /// Puts a ticket's entry at the door back.
    fn put_entry<'a>(&'a self, deployment: &'a str, order: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, ()>;
}
