//! The SQLite file every part of the embedded store shares: its schema, how a connection is
//! opened, and reading a column through a parser.

use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::Connection;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- 1 for a generated one-time password: log-in refuses it until it is changed
    must_change_password INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    account_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    -- 0 live, 1 spent by rotation, 2 revoked with its family
    state INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens(family);
CREATE TABLE IF NOT EXISTS performances (
    namespace TEXT PRIMARY KEY,
    deployment TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    session TEXT NOT NULL,
    buyer TEXT NOT NULL,
    hold_id TEXT NOT NULL UNIQUE,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    tickets TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- A deployment's orders in the order they were confirmed: its replay at start and a backup's
-- pages read along it (it took the place of one on the deployment alone).
DROP INDEX IF EXISTS orders_deployment;
CREATE INDEX IF NOT EXISTS orders_deployment_created ON orders(deployment, created_at, id);
CREATE INDEX IF NOT EXISTS orders_buyer ON orders(buyer);
-- A cancelled performance: gone from the catalog and the triggers, kept for its orders.
CREATE TABLE IF NOT EXISTS archived_performances (
    deployment TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    owner TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    archived_at INTEGER NOT NULL
);
-- Entries at the door (written by the order log); an undone scan keeps its row with
-- undone_at set.
CREATE TABLE IF NOT EXISTS checkins (
    id INTEGER PRIMARY KEY,
    deployment TEXT NOT NULL,
    order_id TEXT NOT NULL,
    seat TEXT NOT NULL,
    checked_in_at INTEGER NOT NULL,
    door TEXT,
    undone_at INTEGER
);
-- A ticket admits once: at most one entry that is not undone.
CREATE UNIQUE INDEX IF NOT EXISTS checkins_live ON checkins(order_id, seat) WHERE undone_at IS NULL;
CREATE INDEX IF NOT EXISTS checkins_deployment ON checkins(deployment);
CREATE TABLE IF NOT EXISTS namespace_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    -- bound to one deployment: a later performance of the same name is out of its reach
    deployment TEXT NOT NULL,
    namespace TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS components (
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    world TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, name, version)
);
-- Performances' posters by the sha256 of their bytes (JPEG, as the control plane re-encoded them).
CREATE TABLE IF NOT EXISTS posters (
    digest TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Work owed after an answer (mail, refunds the provider failed), a queue per kind: claimed by
-- moving due_at past a lease, settled with state.
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT 'queued'
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(queue, due_at) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS outbox_scope ON outbox(scope, created_at);
CREATE INDEX IF NOT EXISTS outbox_settled ON outbox(due_at) WHERE state != 'queued';
CREATE TABLE IF NOT EXISTS kv (
    deployment TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (deployment, key)
);
"#;

/// Opens a connection with the durability settings every writer here relies on.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    // WAL + FULL: a commit is on disk when it returns, and readers never block the writer.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// A text column that must parse (an enum stored by its name).
pub(crate) fn parsed<T>(index: usize, text: String, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(&text).ok_or(rusqlite::Error::InvalidColumnType(index, text, rusqlite::types::Type::Text))
}

