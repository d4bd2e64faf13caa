//! The outbox in the embedded database: one process serves the platform, so a claim is one
//! transaction under the database's lock.

use std::sync::Arc;

use anyhow::Result;
use marquee_store::{BoxFuture, Delivery, Message, Outbox};
use rusqlite::params;

use crate::db::{Db, on_blocking};
use crate::orders::{OrderStore, Record, SqliteOrderLog};
use crate::sqlite::parsed;

pub(crate) const COLUMNS: &str = "id, queue, scope, body, created_at, due_at, attempts, last_error, state";

pub(crate) fn message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        queue: r.get(1)?,
        scope: r.get(2)?,
        body: r.get(3)?,
        created_at: r.get::<_, i64>(4)? as u64,
        due_at: r.get::<_, i64>(5)? as u64,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        state: parsed(8, r.get(8)?, Delivery::parse)?,
    })
}

/// The outbox table of the embedded database; messages are put through the order log's
/// writer, so they share its group commits.
pub(crate) struct EmbeddedOutbox {
    pub(crate) db: Arc<Db>,
    pub(crate) log: Arc<SqliteOrderLog>,
}

impl Db {
    fn outbox_claim(&self, queue: &str, now: u64, lease_ms: u64, limit: usize) -> Result<Vec<Message>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = {
            let mut due = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE queue = ?3 AND state = 'queued' AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2"
            ))?;
            let mut lease = tx.prepare_cached("UPDATE outbox SET due_at = ?2, attempts = attempts + 1 WHERE id = ?1")?;
            let found: Vec<Message> = due.query_map(params![now as i64, limit as i64, queue], message)?.collect::<Result<_, _>>()?;
            let until = now + lease_ms;
            found
                .into_iter()
                .map(|m| {
                    lease.execute(params![m.id, until as i64])?;
                    Ok(Message { due_at: until, attempts: m.attempts + 1, ..m })
                })
                .collect::<Result<Vec<_>>>()?
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn outbox_update(&self, id: &str, state: Delivery, error: Option<&str>, due_at: u64) -> Result<()> {
        let sql = "UPDATE outbox SET state = ?2, last_error = COALESCE(?3, last_error), due_at = ?4 WHERE id = ?1";
        self.conn().execute(sql, params![id, state.as_str(), error, due_at as i64])?;
        Ok(())
    }

    fn outbox_queued(&self, queue: &str) -> Result<u64> {
        Ok(self.conn().query_row("SELECT COUNT(*) FROM outbox WHERE queue = ?1 AND state = 'queued'", [queue], |r| r.get(0))?)
    }

    fn outbox_prune(&self, before: u64, limit: usize) -> Result<u64> {
        let sql = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state != 'queued' AND due_at < ?1 LIMIT ?2)";
        Ok(self.conn().execute(sql, params![before.min(i64::MAX as u64) as i64, limit as i64])? as u64)
    }

    fn outbox_recent(&self, scope: &str, limit: usize) -> Result<Vec<Message>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE scope = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"))?;
        Ok(stmt.query_map(params![scope, limit as i64], message)?.collect::<Result<_, _>>()?)
    }
}

impl Outbox for EmbeddedOutbox {
    fn put<'a>(&'a self, queue: &'a str, id: &'a str, scope: &'a str, body: &'a str, now: u64, due_at: u64) -> BoxFuture<'a, bool> {
        let (queue, id, scope, body) = (queue.to_owned(), id.to_owned(), scope.to_owned(), body.to_owned());
        self.log.append(Record::Outbox { queue, id, scope, body, now, due_at })
    }

    fn claim<'a>(&'a self, queue: &'a str, now: u64, lease_ms: u64, limit: usize) -> BoxFuture<'a, Vec<Message>> {
        let queue = queue.to_owned();
        on_blocking(&self.db, move |db| db.outbox_claim(&queue, now, lease_ms, limit))
    }

    fn settle<'a>(&'a self, id: &'a str, state: Delivery, at: u64) -> BoxFuture<'a, ()> {
        let id = id.to_owned();
        on_blocking(&self.db, move |db| db.outbox_update(&id, state, None, at))
    }

    fn retry<'a>(&'a self, id: &'a str, error: &'a str, retry_at: u64) -> BoxFuture<'a, ()> {
        let (id, error) = (id.to_owned(), error.to_owned());
        on_blocking(&self.db, move |db| db.outbox_update(&id, Delivery::Queued, Some(&error), retry_at))
    }

    fn queued<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, u64> {
        let queue = queue.to_owned();
        on_blocking(&self.db, move |db| db.outbox_queued(&queue))
    }

    fn prune(&self, before: u64, limit: usize) -> BoxFuture<'_, u64> {
        on_blocking(&self.db, move |db| db.outbox_prune(before, limit))
    }

    fn recent<'a>(&'a self, scope: &'a str, limit: usize) -> BoxFuture<'a, Vec<Message>> {
        let scope = scope.to_owned();
        on_blocking(&self.db, move |db| db.outbox_recent(&scope, limit))
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_embedded_outbox_passes_the_outbox_conformance_suite() {
        let dir = crate::TestDir::new("outbox");
        let path = dir.0.join("m.db");
        let db = std::sync::Arc::new(crate::db::Db::open(&path).unwrap());
        let log = std::sync::Arc::new(crate::orders::SqliteOrderLog::open(&path).unwrap());
        marquee_store::conformance::outbox(std::sync::Arc::new(super::EmbeddedOutbox { db, log })).await;
    }
}
