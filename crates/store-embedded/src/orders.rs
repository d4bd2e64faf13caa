//! The durable order log behind one trait, [`OrderStore`], and its embedded backend
//! [`SqliteOrderLog`]: confirmed orders and their status changes, group-committed to SQLite
//! by one writer thread. A caller's `append` returns only once its record is on disk, but
//! many callers share one commit (one disk flush), so durability does not cap throughput at
//! one flush per order.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Mutex, mpsc};

use anyhow::{Context, Result};
use rusqlite::params;

pub(crate) use marquee_store::{Entry, OrderRow, OrderStatus, Refund};

/// Most records folded into one commit.
const MAX_BATCH: usize = 4096;

/// One change to the log.
pub(crate) enum Record {
    Insert(OrderRow),
    Status { id: String, status: OrderStatus },
    /// A seller's refund: the order's refunds and status after it.
    Refund { id: String, refunds: Vec<Refund>, status: OrderStatus },
    /// A ticket's entry at the door.
    CheckIn { deployment: String, order: String, ticket: String, entry: Entry },
    /// An entry undone (a mistaken scan): it stays on record, marked undone at `at`.
    Undo { order: String, ticket: String, at: u64 },
    /// A message for the outbox, group-committed like orders: a confirmation's mail costs the
    /// order no flush of its own.
    Outbox { queue: String, id: String, scope: String, body: String, now: u64, due_at: u64 },
}

struct Job {
    record: Record,
    /// Whether the record changed anything (a message whose id is taken does not).
    done: tokio::sync::oneshot::Sender<Result<bool, String>>,
}

/// Where orders are made durable. Claims live in memory; this is what survives a crash.
pub(crate) trait OrderStore: Send + Sync {
    /// Appends a record; resolves once it is durable, with whether it changed anything.
    fn append(&self, record: Record) -> Pin<Box<dyn Future<Output = Result<bool>> + Send>>;
    /// Every order of a deployment, oldest first.
    fn load(&self, deployment: &str) -> Result<Vec<OrderRow>>;
    /// The live entries of a deployment's tickets: (order, ticket, entry).
    fn entries(&self, deployment: &str) -> Result<Vec<(String, String, Entry)>>;
}

/// The embedded backend: SQLite in the data dir, one group-committing writer thread.
pub(crate) struct SqliteOrderLog {
    jobs: mpsc::Sender<Job>,
    reader: Mutex<rusqlite::Connection>,
}

impl SqliteOrderLog {
    /// Opens the log on the database file and starts its writer thread.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let reader = Mutex::new(crate::sqlite::open(path)?);
        let mut conn = crate::sqlite::open(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("order-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let result = write_batch(&mut conn, &batch).map_err(|e| format!("{e:#}"));
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "order log commit failed");
                    }
                    for (n, job) in batch.into_iter().enumerate() {
                        let _ = job.done.send(result.as_ref().map(|changed| changed[n]).map_err(Clone::clone));
                    }
                }
            })
            .context("failed to start the order log writer")?;
        Ok(Self { jobs, reader })
    }
}

impl OrderStore for SqliteOrderLog {
    fn append(&self, record: Record) -> Pin<Box<dyn Future<Output = Result<bool>> + Send>> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = self.jobs.send(Job { record, done });
        Box::pin(async move {
            sent.map_err(|_| anyhow::anyhow!("the order log writer has stopped"))?;
            wait.await
                .map_err(|_| anyhow::anyhow!("the order log writer has stopped"))?
                .map_err(|e| anyhow::anyhow!(e))
        })
    }

    fn load(&self, deployment: &str) -> Result<Vec<OrderRow>> {
        load(&self.reader.lock().unwrap_or_else(|e| e.into_inner()), deployment)
    }

    fn entries(&self, deployment: &str) -> Result<Vec<(String, String, Entry)>> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT order_id, seat, checked_in_at, door FROM checkins WHERE deployment = ?1 AND undone_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([deployment], |r| {
            Ok((r.get(0)?, r.get(1)?, Entry { at: r.get::<_, i64>(2)? as u64, door: r.get(3)? }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Writes a batch in one transaction; per record, whether it changed anything.
fn write_batch(conn: &mut rusqlite::Connection, batch: &[Job]) -> Result<Vec<bool>> {
    let tx = conn.transaction()?;
    let mut changed = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO orders (id, deployment, session, buyer, hold_id, amount, status, tickets, charge_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut status = tx.prepare_cached("UPDATE orders SET status = ?2 WHERE id = ?1")?;
        let mut refund = tx.prepare_cached("UPDATE orders SET refunds = ?2, status = ?3 WHERE id = ?1")?;
        let mut check_in = tx.prepare_cached("INSERT OR IGNORE INTO checkins (deployment, order_id, seat, checked_in_at, door) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut undo = tx.prepare_cached("UPDATE checkins SET undone_at = ?3 WHERE order_id = ?1 AND seat = ?2 AND undone_at IS NULL")?;
        let mut outbox = tx.prepare_cached("INSERT OR IGNORE INTO outbox (queue, id, scope, body, created_at, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for job in batch {
            changed.push(match &job.record {
                Record::Insert(o) => {
                    insert.execute(params![
                        o.id,
                        o.deployment,
                        o.session,
                        o.buyer,
                        o.hold_id,
                        o.amount as i64,
                        o.status.as_str(),
                        serde_json::to_string(&o.tickets)?,
                        o.charge_id,
                        o.created_at as i64
                    ])? > 0
                }
                Record::Status { id, status: s } => status.execute(params![id, s.as_str()])? > 0,
                Record::Refund { id, refunds, status: s } => refund.execute(params![id, serde_json::to_string(refunds)?, s.as_str()])? > 0,
                Record::CheckIn { deployment, order, ticket, entry } => {
                    check_in.execute(params![deployment, order, ticket, entry.at as i64, entry.door])? > 0
                }
                Record::Undo { order, ticket, at } => undo.execute(params![order, ticket, *at as i64])? > 0,
                Record::Outbox { queue, id, scope, body, now, due_at } => outbox.execute(params![queue, id, scope, body, *now as i64, *due_at as i64])? > 0,
            });
        }
    }
    tx.commit()?;
    Ok(changed)
}

fn load(conn: &rusqlite::Connection, deployment: &str) -> Result<Vec<OrderRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.deployment = ?1 ORDER BY o.created_at, o.id"))?;
    let rows = stmt.query_map([deployment], order_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The columns [`order_row`] reads, of the `orders` table as `o`; a query may add more after.
pub(crate) const ORDER_COLUMNS: &str =
    "o.id, o.deployment, o.session, o.buyer, o.hold_id, o.amount, o.status, o.tickets, o.charge_id, o.created_at, o.refunds";

/// An order from the first eleven columns of a row ([`ORDER_COLUMNS`]).
pub(crate) fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRow> {
    let tickets: String = r.get(7)?;
    let refunds: String = r.get(10)?;
    Ok(OrderRow {
        id: r.get(0)?,
        deployment: r.get(1)?,
        session: r.get(2)?,
        buyer: r.get(3)?,
        hold_id: r.get(4)?,
        amount: r.get::<_, i64>(5)? as u64,
        status: crate::sqlite::parsed(6, r.get(6)?, OrderStatus::parse)?,
        tickets: serde_json::from_str(&tickets).unwrap_or_default(),
        charge_id: r.get(8)?,
        created_at: r.get::<_, i64>(9)? as u64,
        refunds: serde_json::from_str(&refunds).unwrap_or_default(),
    })
}
