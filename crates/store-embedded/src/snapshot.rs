//! What a backup reads of the data dir and a restore writes into an empty one: plain queries
//! of the database, and orders and entries put back through the order log.

use std::sync::Arc;

use marquee_store::{AccountRecord, BoxFuture, Entry, Message, NamespaceTokenRecord, OrderRow, Page, PerformanceRow, RefreshToken, Restored, Snapshot};
use rusqlite::params;

use crate::db::{ACCOUNT_COLUMNS, Db, account_of, on_blocking};
use crate::orders::{ORDER_COLUMNS, OrderStore, Record, SqliteOrderLog, order_row};

pub(crate) struct EmbeddedSnapshot {
    pub(crate) db: Arc<Db>,
    pub(crate) log: Arc<SqliteOrderLog>,
}

/// A page keyed by each item's key: the next one starts after the last, unless this one was short.
fn page<T>(items: Vec<T>, limit: usize, key: impl Fn(&T) -> &str) -> Page<T> {
    let next = (items.len() == limit).then(|| items.last().map(|last| key(last).to_owned())).flatten();
    Page { items, next }
}

/// The rows of a query, each read with `row`.
fn rows<T>(db: &Db, sql: &str, params: impl rusqlite::Params, row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>) -> anyhow::Result<Vec<T>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Snapshot for EmbeddedSnapshot {
    fn accounts<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<AccountRecord>> {
        let after = cursor.map(str::to_owned);
        on_blocking(&self.db, move |db| {
            let sql = format!("SELECT {ACCOUNT_COLUMNS}, created_at FROM accounts WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2");
            let items = rows(db, &sql, params![after, limit as i64], |r| Ok(AccountRecord { account: account_of(r)?, created_at: r.get(5)? }))?;
            Ok(page(items, limit, |a| &a.account.id))
        })
    }

    fn refresh_tokens<'a>(&'a self, cursor: Option<&'a str>, limit: usize, now: i64) -> BoxFuture<'a, Page<RefreshToken>> {
        let after = cursor.map(str::to_owned);
        on_blocking(&self.db, move |db| {
            let sql = "SELECT hash, family, account_id, expires_at, state FROM refresh_tokens
                       WHERE expires_at > ?3 AND (?1 IS NULL OR hash > ?1) ORDER BY hash LIMIT ?2";
            let items = rows(db, sql, params![after, limit as i64, now], |r| {
                Ok(RefreshToken { hash: r.get(0)?, family: r.get(1)?, account_id: r.get(2)?, expires_at: r.get(3)?, state: r.get(4)? })
            })?;
            Ok(page(items, limit, |t| &t.hash))
        })
    }

    fn put_refresh_token<'a>(&'a self, t: &'a RefreshToken) -> BoxFuture<'a, ()> {
        let t = t.clone();
        on_blocking(&self.db, move |db| {
            db.conn().execute(
                "INSERT OR REPLACE INTO refresh_tokens (hash, family, account_id, expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.hash, t.family, t.account_id, t.expires_at, t.state],
            )?;
            Ok(())
        })
    }

    fn archived(&self) -> BoxFuture<'_, Vec<(PerformanceRow, i64)>> {
        on_blocking(&self.db, |db| db.archived_performances())
    }

    fn namespace_tokens(&self) -> BoxFuture<'_, Vec<NamespaceTokenRecord>> {
        on_blocking(&self.db, |db| db.namespace_tokens())
    }

    fn posters(&self) -> BoxFuture<'_, Vec<String>> {
        on_blocking(&self.db, |db| rows(db, "SELECT digest FROM posters ORDER BY digest", [], |r| r.get(0)))
    }

    /// The cursor is the last row's scope and key, apart by a newline (neither holds one).
    fn kv<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<(String, String, Vec<u8>)>> {
        let (scope, key) = cursor.and_then(|c| c.split_once('\n')).map_or((String::new(), String::new()), |(s, k)| (s.to_owned(), k.to_owned()));
        on_blocking(&self.db, move |db| {
            let sql = "SELECT deployment, key, value FROM kv WHERE deployment > ?1 OR (deployment = ?1 AND key > ?2) ORDER BY deployment, key LIMIT ?3";
            let items: Vec<(String, String, Vec<u8>)> = rows(db, sql, params![scope, key, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let next = (items.len() == limit).then(|| items.last().map(|(s, k, _)| format!("{s}\n{k}"))).flatten();
            Ok(Page { items, next })
        })
    }

    fn messages<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<Message>> {
        let after = cursor.map(str::to_owned);
        on_blocking(&self.db, move |db| {
            let sql = format!("SELECT {} FROM outbox WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2", crate::outbox::COLUMNS);
            Ok(page(rows(db, &sql, params![after, limit as i64], crate::outbox::message)?, limit, |m| &m.id))
        })
    }

    fn put_message<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, ()> {
        let m = m.clone();
        on_blocking(&self.db, move |db| {
            db.conn().execute(
                &format!("INSERT OR REPLACE INTO outbox ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", crate::outbox::COLUMNS),
                params![m.id, m.queue, m.scope, m.body, m.created_at as i64, m.due_at as i64, m.attempts, m.last_error, m.state.as_str()],
            )?;
            Ok(())
        })
    }

    fn orders<'a>(&'a self, deployment: &'a str, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<OrderRow>> {
        let (deployment, after) = (deployment.to_owned(), after.map(|(at, id)| (at as i64, id.to_owned())));
        on_blocking(&self.db, move |db| {
            let (at, id) = after.unwrap_or((-1, String::new()));
            let sql = format!(
                "SELECT {ORDER_COLUMNS} FROM orders o WHERE o.deployment = ?1 AND (o.created_at, o.id) > (?2, ?3)
                 ORDER BY o.created_at, o.id LIMIT ?4"
            );
            rows(db, &sql, params![deployment, at, id, limit as i64], order_row)
        })
    }

    fn entries<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, Vec<(String, String, Entry)>> {
        let (log, deployment) = (self.log.clone(), deployment.to_owned());
        Box::pin(async move { tokio::task::spawn_blocking(move || log.entries(&deployment)).await? })
    }

    /// The log is the embedded store's truth: the claims are rebuilt from it when the
    /// deployment opens, so an order needs no claims of its own here.
    fn put_order<'a>(&'a self, deployment: &'a str, row: &'a OrderRow, _claims: Option<&'a Restored>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let logged = OrderRow { deployment: deployment.to_owned(), refunds: Vec::new(), ..row.clone() };
            self.log.append(Record::Insert(logged)).await?;
            if !row.refunds.is_empty() {
                self.log.append(Record::Refund { id: row.id.clone(), refunds: row.refunds.clone(), status: row.status }).await?;
            }
            Ok(())
        })
    }

    fn put_entry<'a>(&'a self, deployment: &'a str, order: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let record = Record::CheckIn { deployment: deployment.to_owned(), order: order.to_owned(), ticket: ticket.to_owned(), entry: entry.clone() };
            self.log.append(record).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_embedded_snapshot_goes_back_into_another_data_dir() {
        let (from, to) = (crate::TestDir::new("snapshot-from"), crate::TestDir::new("snapshot-to"));
        marquee_store::conformance::snapshot(&crate::open(&from.0).unwrap(), &crate::open(&to.0).unwrap()).await;
    }
}
