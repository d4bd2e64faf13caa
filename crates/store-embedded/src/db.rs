//! The embedded durable store (SQLite): accounts, refresh tokens, performances, the
//! namespace-scoped key-value store and orders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use marquee_store::{BoxFuture, Catalog, Identity, KeyValue};
use rusqlite::{Connection, OptionalExtension, params};

use crate::orders::ORDER_COLUMNS;
use crate::sqlite::{SCHEMA, open, parsed};

pub(crate) use marquee_store::{Account, BuyerOrder, ComponentRow, DeploymentRow, NamespaceToken, PerformanceRow, RefreshState, TokenScope};

/// The control plane's handle on SQLite.
pub(crate) struct Db {
    conn: Mutex<Connection>,
}

/// Adds a column that a data dir made by an older release lacks.
fn add_column(conn: &Connection, table: &str, column: &str, declaration: &str) -> Result<()> {
    let exists: bool = conn.query_row(
        &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
        [column],
        |r| r.get(0),
    )?;
    if !exists {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"))?;
    }
    Ok(())
}

/// The columns [`performance_row`] reads, first in a query, in both performance tables.
const PERFORMANCE_COLUMNS: &str = "namespace, deployment, owner, template, params, spec, created_at";

fn performance_row(r: &rusqlite::Row) -> rusqlite::Result<PerformanceRow> {
    Ok(PerformanceRow {
        namespace: r.get(0)?,
        deployment: r.get(1)?,
        owner: r.get(2)?,
        template: r.get(3)?,
        params: r.get(4)?,
        spec: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// Whether an error is SQLite refusing a duplicate key.
/// The columns [`token_of`] reads, in its order.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, email, password_hash, role, must_change_password";

/// An account from a row that starts with [`ACCOUNT_COLUMNS`].
pub(crate) fn account_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account { id: r.get(0)?, email: r.get(1)?, password_hash: r.get(2)?, role: parsed(3, r.get(3)?, marquee_store::Role::parse)?, must_change_password: r.get(4)? })
}

const TOKEN_COLUMNS: &str = "id, deployment, namespace, created_by, scope, label";

/// A namespace token from a row that starts with [`TOKEN_COLUMNS`].
fn token_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<NamespaceToken> {
    let scope: String = r.get(4)?;
    let scope = TokenScope::parse(Some(&scope))
        .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, format!("unknown token scope {scope:?}").into()))?;
    Ok(NamespaceToken { id: r.get(0)?, deployment: r.get(1)?, namespace: r.get(2)?, created_by: r.get(3)?, scope, label: r.get(5)? })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl Db {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).context("failed to create the schema")?;
        add_column(&conn, "accounts", "must_change_password", "INTEGER NOT NULL DEFAULT 0")?;
        add_column(&conn, "namespace_tokens", "scope", "TEXT NOT NULL DEFAULT 'deploy'")?;
        add_column(&conn, "namespace_tokens", "label", "TEXT NOT NULL DEFAULT ''")?;
        add_column(&conn, "orders", "refunds", "TEXT NOT NULL DEFAULT '[]'")?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs an INSERT; `Ok(false)` when a unique key refuses it.
    fn insert_unique(&self, sql: &str, values: impl rusqlite::Params) -> Result<bool> {
        match self.conn().execute(sql, values) {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn account_count(&self) -> Result<u64> {
        Ok(self.conn().query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?)
    }

    /// Inserts an account; `Ok(false)` when the email is taken.
    pub(crate) fn insert_account(&self, a: &Account, now: i64) -> Result<bool> {
        self.insert_unique(
            "INSERT INTO accounts (id, email, password_hash, role, created_at, must_change_password) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![a.id, a.email, a.password_hash, a.role.as_str(), now, a.must_change_password],
        )
    }

    fn account_where(&self, column: &str, value: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = ?1");
        Ok(self.conn().query_row(&sql, [value], account_of).optional()?)
    }

    pub(crate) fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        self.account_where("email", email)
    }

    pub(crate) fn account_by_id(&self, id: &str) -> Result<Option<Account>> {
        self.account_where("id", id)
    }

    /// Sets a new password and ends every session of the account; returns the ended families.
    pub(crate) fn set_password(&self, account_id: &str, password_hash: &str) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("UPDATE accounts SET password_hash = ?2, must_change_password = 0 WHERE id = ?1", [account_id, password_hash])?;
        let families: Vec<String> = {
            let mut stmt = tx.prepare("SELECT DISTINCT family FROM refresh_tokens WHERE account_id = ?1 AND state != 2")?;
            let rows = stmt.query_map([account_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute("UPDATE refresh_tokens SET state = 2 WHERE account_id = ?1", [account_id])?;
        tx.commit()?;
        Ok(families)
    }

    pub(crate) fn insert_refresh(&self, hash: &str, family: &str, account_id: &str, expires_at: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO refresh_tokens (hash, family, account_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash, family, account_id, expires_at],
        )?;
        Ok(())
    }

    /// Spends a live refresh token and records its successor in one transaction, so two
    /// concurrent refreshes with the same token cannot both succeed.
    pub(crate) fn rotate_refresh(&self, hash: &str) -> Result<RefreshState> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row: Option<(String, String, i64, i64)> = tx
            .query_row(
                "SELECT family, account_id, expires_at, state FROM refresh_tokens WHERE hash = ?1",
                [hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let state = match row {
            None => RefreshState::Unknown,
            Some((family, _, _, state)) if state != 0 => {
                tx.execute("UPDATE refresh_tokens SET state = 2 WHERE family = ?1", [&family])?;
                RefreshState::Reused { family }
            }
            Some((family, account_id, expires_at, _)) => {
                tx.execute("UPDATE refresh_tokens SET state = 1 WHERE hash = ?1", [hash])?;
                RefreshState::Live { family, account_id, expires_at }
            }
        };
        tx.commit()?;
        Ok(state)
    }

    /// Revokes the family of a refresh token and names it; `None` when the token is unknown.
    pub(crate) fn revoke_family_of(&self, hash: &str) -> Result<Option<String>> {
        let conn = self.conn();
        let family: Option<String> = conn
            .query_row("SELECT family FROM refresh_tokens WHERE hash = ?1", [hash], |r| r.get(0))
            .optional()?;
        if let Some(family) = &family {
            conn.execute("UPDATE refresh_tokens SET state = 2 WHERE family = ?1", [family])?;
        }
        Ok(family)
    }

    /// Revoked families whose tokens have not all expired yet.
    pub(crate) fn revoked_families(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT family FROM refresh_tokens WHERE state = 2 AND expires_at > ?1",
        )?;
        let rows = stmt.query_map([marquee_store::clock::now_secs()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Inserts a performance; `Ok(false)` when the namespace is taken.
    pub(crate) fn insert_performance(&self, p: &PerformanceRow) -> Result<bool> {
        self.insert_unique(
            "INSERT INTO performances (namespace, deployment, owner, template, params, spec, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![p.namespace, p.deployment, p.owner, p.template, p.params, p.spec, p.created_at],
        )
    }

    pub(crate) fn update_performance(&self, namespace: &str, params: &str, spec: &str) -> Result<()> {
        self.conn()
            .execute("UPDATE performances SET params = ?2, spec = ?3 WHERE namespace = ?1", [namespace, params, spec])?;
        Ok(())
    }

    pub(crate) fn insert_namespace_token(&self, t: &NamespaceToken, hash: &str, now: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO namespace_tokens (id, hash, deployment, namespace, created_by, created_at, scope, label) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![t.id, hash, t.deployment, t.namespace, t.created_by, now, t.scope.as_str(), t.label],
        )?;
        Ok(())
    }

    /// A live namespace token by id, with its secret's hash.
    pub(crate) fn namespace_token(&self, id: &str) -> Result<Option<(NamespaceToken, String)>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS}, hash FROM namespace_tokens WHERE id = ?1 AND revoked = 0"),
                [id],
                |r| Ok((token_of(r)?, r.get(6)?)),
            )
            .optional()?)
    }

    /// Revokes a token of a deployment; false when there is no such live token.
    pub(crate) fn revoke_namespace_token(&self, deployment: &str, id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE namespace_tokens SET revoked = 1 WHERE id = ?1 AND deployment = ?2 AND revoked = 0",
            [id, deployment],
        )?;
        Ok(n == 1)
    }

    /// Takes a performance out of service. With orders (`archive`) it is archived, not
    /// forgotten, so its buyers keep seeing what they bought; its namespace is free again
    /// either way. Its `kv` is the caller's to clear.
    pub(crate) fn remove_performance(&self, namespace: &str, deployment: &str, now: i64, archive: bool) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO archived_performances (deployment, namespace, owner, template, params, spec, created_at, archived_at)
             SELECT deployment, namespace, owner, template, params, spec, created_at, ?2 FROM performances
             WHERE namespace = ?1 AND deployment = ?4 AND ?3",
            params![namespace, now, archive, deployment],
        )?;
        tx.execute("DELETE FROM performances WHERE namespace = ?1 AND deployment = ?2", [namespace, deployment])?;
        tx.commit()?;
        Ok(())
    }

    /// A buyer's orders in every performance, live or archived, newest first.
    pub(crate) fn orders_of_buyer(&self, buyer: &str) -> Result<Vec<BuyerOrder>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS}, COALESCE(p.namespace, a.namespace), COALESCE(p.params, a.params), a.archived_at
             FROM orders o
             LEFT JOIN performances p ON p.deployment = o.deployment
             LEFT JOIN archived_performances a ON a.deployment = o.deployment
             WHERE o.buyer = ?1 ORDER BY o.created_at DESC, o.id"
        ))?;
        let rows = stmt.query_map([buyer], |r| {
            Ok(BuyerOrder {
                order: crate::orders::order_row(r)?,
                namespace: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                params: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
                archived_at: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every performance, live or archived.
    pub(crate) fn deployments(&self) -> Result<Vec<DeploymentRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT namespace, deployment, params, NULL FROM performances
             UNION ALL SELECT namespace, deployment, params, archived_at FROM archived_performances",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn performances(&self) -> Result<Vec<PerformanceRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {PERFORMANCE_COLUMNS} FROM performances ORDER BY created_at, namespace"))?;
        let rows = stmt.query_map([], performance_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Archived performances with when each was archived.
    pub(crate) fn archived_performances(&self) -> Result<Vec<(PerformanceRow, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {PERFORMANCE_COLUMNS}, archived_at FROM archived_performances ORDER BY archived_at"))?;
        let rows = stmt.query_map([], |r| Ok((performance_row(r)?, r.get(7)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Live deploy tokens with their secrets' hashes and when each was made.
    pub(crate) fn namespace_tokens(&self) -> Result<Vec<(NamespaceToken, String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLUMNS}, hash, created_at FROM namespace_tokens WHERE revoked = 0"))?;
        let rows = stmt.query_map([], |r| Ok((token_of(r)?, r.get(6)?, r.get(7)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an upload; `Ok(false)` when the owner already has this name and version.
    pub(crate) fn insert_component(&self, c: &ComponentRow) -> Result<bool> {
        self.insert_unique(
            "INSERT INTO components (owner, name, version, digest, world, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![c.owner, c.name, c.version, c.digest, c.world, c.size, c.created_at],
        )
    }

    /// Uploaded components, an owner's or (with `None`) everyone's.
    pub(crate) fn components(&self, owner: Option<&str>) -> Result<Vec<ComponentRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT owner, name, version, digest, world, size, created_at FROM components
             WHERE ?1 IS NULL OR owner = ?1 ORDER BY created_at, name, version",
        )?;
        let rows = stmt.query_map([owner], |r| {
            Ok(ComponentRow {
                owner: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                digest: r.get(3)?,
                world: r.get(4)?,
                size: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn put_poster(&self, digest: &str, bytes: &[u8], now: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO posters (digest, bytes, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING",
            params![digest, bytes, now],
        )?;
        Ok(())
    }

    pub(crate) fn poster(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn().query_row("SELECT bytes FROM posters WHERE digest = ?1", [digest], |r| r.get(0)).optional()?)
    }

    /// Every poster: (digest, bytes, created_at).
    fn posters(&self) -> Result<Vec<(String, Vec<u8>, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT digest, bytes, created_at FROM posters")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn put_template(&self, name: &str, body: &str, now: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO templates (name, body, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            params![name, body, now],
        )?;
        Ok(())
    }

    pub(crate) fn delete_template(&self, name: &str) -> Result<()> {
        self.conn().execute("DELETE FROM templates WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Admins' templates as stored JSON.
    pub(crate) fn templates(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT body FROM templates ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn kv_get(&self, deployment: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM kv WHERE deployment = ?1 AND key = ?2", [deployment, key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn kv_set(&self, deployment: &str, key: &str, value: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO kv (deployment, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (deployment, key) DO UPDATE SET value = excluded.value",
            params![deployment, key, value],
        )?;
        Ok(())
    }

    pub(crate) fn kv_delete(&self, deployment: &str, key: &str) -> Result<()> {
        self.conn().execute("DELETE FROM kv WHERE deployment = ?1 AND key = ?2", [deployment, key])?;
        Ok(())
    }

    pub(crate) fn kv_clear(&self, deployment: &str) -> Result<()> {
        self.conn().execute("DELETE FROM kv WHERE deployment = ?1", [deployment])?;
        Ok(())
    }
}

/// Runs a store call on a blocking thread: a SQLite call inside a guest's poll or on an async
/// worker would stall the worker and every task it runs.
pub(crate) fn on_blocking<'a, T: Send + 'static>(db: &Arc<Db>, work: impl FnOnce(&Db) -> Result<T> + Send + 'static) -> BoxFuture<'a, T> {
    let db = db.clone();
    Box::pin(async move { tokio::task::spawn_blocking(move || work(&db)).await? })
}

/// The `kv` interface on the embedded database.
pub(crate) struct EmbeddedKv(pub Arc<Db>);

impl KeyValue for EmbeddedKv {
    fn get<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        on_blocking(&self.0, move |db| db.kv_get(&scope, &key))
    }

    fn set<'a>(&'a self, scope: &'a str, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, ()> {
        let (scope, key, value) = (scope.to_owned(), key.to_owned(), value.to_vec());
        on_blocking(&self.0, move |db| db.kv_set(&scope, &key, &value))
    }

    fn delete<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, ()> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        on_blocking(&self.0, move |db| db.kv_delete(&scope, &key))
    }

    fn clear<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, ()> {
        let scope = scope.to_owned();
        on_blocking(&self.0, move |db| db.kv_clear(&scope))
    }
}

/// The control plane's catalog in the embedded database.
pub(crate) struct EmbeddedCatalog(pub Arc<Db>);

impl Catalog for EmbeddedCatalog {
    fn insert_performance<'a>(&'a self, row: &'a PerformanceRow) -> BoxFuture<'a, bool> {
        let row = row.clone();
        on_blocking(&self.0, move |db| db.insert_performance(&row))
    }

    fn update_performance<'a>(&'a self, namespace: &'a str, params: &'a str, spec: &'a str) -> BoxFuture<'a, ()> {
        let (namespace, params, spec) = (namespace.to_owned(), params.to_owned(), spec.to_owned());
        on_blocking(&self.0, move |db| db.update_performance(&namespace, &params, &spec))
    }

    fn remove_performance<'a>(&'a self, namespace: &'a str, deployment: &'a str, now: i64, archive: bool) -> BoxFuture<'a, ()> {
        let (namespace, deployment) = (namespace.to_owned(), deployment.to_owned());
        on_blocking(&self.0, move |db| db.remove_performance(&namespace, &deployment, now, archive))
    }

    fn performances(&self) -> BoxFuture<'_, Vec<PerformanceRow>> {
        on_blocking(&self.0, |db| db.performances())
    }

    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentRow>> {
        on_blocking(&self.0, |db| db.deployments())
    }

    fn insert_component<'a>(&'a self, component: &'a ComponentRow) -> BoxFuture<'a, bool> {
        let component = component.clone();
        on_blocking(&self.0, move |db| db.insert_component(&component))
    }

    fn components<'a>(&'a self, owner: Option<&'a str>) -> BoxFuture<'a, Vec<ComponentRow>> {
        let owner = owner.map(str::to_owned);
        on_blocking(&self.0, move |db| db.components(owner.as_deref()))
    }

    fn put_template<'a>(&'a self, name: &'a str, body: &'a str, now: i64) -> BoxFuture<'a, ()> {
        let (name, body) = (name.to_owned(), body.to_owned());
        on_blocking(&self.0, move |db| db.put_template(&name, &body, now))
    }

    fn delete_template<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()> {
        let name = name.to_owned();
        on_blocking(&self.0, move |db| db.delete_template(&name))
    }

    fn templates(&self) -> BoxFuture<'_, Vec<String>> {
        on_blocking(&self.0, |db| db.templates())
    }

    fn insert_namespace_token<'a>(&'a self, token: &'a NamespaceToken, hash: &'a str, now: i64) -> BoxFuture<'a, ()> {
        let (token, hash) = (token.clone(), hash.to_owned());
        on_blocking(&self.0, move |db| db.insert_namespace_token(&token, &hash, now))
    }

    fn namespace_token<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<(NamespaceToken, String)>> {
        let id = id.to_owned();
        on_blocking(&self.0, move |db| db.namespace_token(&id))
    }

    fn revoke_namespace_token<'a>(&'a self, deployment: &'a str, id: &'a str) -> BoxFuture<'a, bool> {
        let (deployment, id) = (deployment.to_owned(), id.to_owned());
        on_blocking(&self.0, move |db| db.revoke_namespace_token(&deployment, &id))
    }

    fn put_poster<'a>(&'a self, digest: &'a str, bytes: &'a [u8], now: i64) -> BoxFuture<'a, ()> {
        let (digest, bytes) = (digest.to_owned(), bytes.to_owned());
        on_blocking(&self.0, move |db| db.put_poster(&digest, &bytes, now))
    }

    fn poster<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        let digest = digest.to_owned();
        on_blocking(&self.0, move |db| db.poster(&digest))
    }
}

/// Copies a data dir's catalog into a shared store's when that one is empty: archived and live
/// performances, uploads, templates, live deploy tokens, posters ([`crate::move_catalog`] does it once).
pub(crate) async fn copy_catalog(db: &Arc<Db>, to: &dyn Catalog) -> Result<()> {
    let here = EmbeddedCatalog(db.clone());
    let (live, components, templates) = (here.performances().await?, here.components(None).await?, here.templates().await?);
    let local = db.clone();
    let (archived, tokens, posters) =
        tokio::task::spawn_blocking(move || anyhow::Ok((local.archived_performances()?, local.namespace_tokens()?, local.posters()?))).await??;
    let empty = to.deployments().await?.is_empty() && to.components(None).await?.is_empty() && to.templates().await?.is_empty();
    if empty {
        for (row, archived_at) in &archived {
            to.insert_performance(row).await?;
            to.remove_performance(&row.namespace, &row.deployment, *archived_at, true).await?;
        }
        for row in &live {
            to.insert_performance(row).await?;
        }
        for component in &components {
            to.insert_component(component).await?;
        }
        for body in &templates {
            let name = serde_json::from_str::<serde_json::Value>(body)?["name"].as_str().context("a stored template without a name")?.to_owned();
            to.put_template(&name, body, marquee_store::clock::now_secs()).await?;
        }
        for (token, hash, created_at) in &tokens {
            to.insert_namespace_token(token, hash, *created_at).await?;
        }
        for (digest, bytes, created_at) in &posters {
            to.put_poster(digest, bytes, *created_at).await?;
        }
        let counts = (archived.len(), live.len(), components.len(), templates.len(), tokens.len(), posters.len());
        tracing::info!(?counts, "moved the data dir's catalog (archived, live, uploads, templates, tokens, posters) into the shared store");
    }
    Ok(())
}

/// Accounts and refresh tokens in the embedded database; the token keys in a file of the
/// data dir's secrets, readable by its owner only.
pub(crate) struct EmbeddedIdentity {
    pub db: Arc<Db>,
    pub keys_path: PathBuf,
}

impl EmbeddedIdentity {
    /// The file holds a JSON array of the keys as the caller encodes them (JSON objects).
    fn write_keys(keys: &[String]) -> Result<Vec<u8>> {
        let values = keys.iter().map(|k| serde_json::from_str(k)).collect::<Result<Vec<serde_json::Value>, _>>()?;
        Ok(serde_json::to_vec(&values)?)
    }

    fn read_keys(path: &Path) -> Result<Vec<String>> {
        let values: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("{} is not a key list", path.display()))?;
        Ok(values.iter().map(serde_json::Value::to_string).collect())
    }
}

impl Identity for EmbeddedIdentity {
    fn insert_account<'a>(&'a self, account: &'a Account, now: i64) -> BoxFuture<'a, bool> {
        let account = account.clone();
        on_blocking(&self.db, move |db| db.insert_account(&account, now))
    }

    fn account_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Option<Account>> {
        let email = email.to_owned();
        on_blocking(&self.db, move |db| db.account_by_email(&email))
    }

    fn account_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Account>> {
        let id = id.to_owned();
        on_blocking(&self.db, move |db| db.account_by_id(&id))
    }

    fn account_count(&self) -> BoxFuture<'_, u64> {
        on_blocking(&self.db, |db| db.account_count())
    }

    fn set_password<'a>(&'a self, account_id: &'a str, password_hash: &'a str) -> BoxFuture<'a, Vec<String>> {
        let (id, hash) = (account_id.to_owned(), password_hash.to_owned());
        on_blocking(&self.db, move |db| db.set_password(&id, &hash))
    }

    fn insert_refresh<'a>(&'a self, hash: &'a str, family: &'a str, account_id: &'a str, expires_at: i64) -> BoxFuture<'a, ()> {
        let (hash, family, id) = (hash.to_owned(), family.to_owned(), account_id.to_owned());
        on_blocking(&self.db, move |db| db.insert_refresh(&hash, &family, &id, expires_at))
    }

    fn rotate_refresh<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, RefreshState> {
        let hash = hash.to_owned();
        on_blocking(&self.db, move |db| db.rotate_refresh(&hash))
    }

    fn revoke_family_of<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Option<String>> {
        let hash = hash.to_owned();
        on_blocking(&self.db, move |db| db.revoke_family_of(&hash))
    }

    fn revoked_families(&self) -> BoxFuture<'_, Vec<String>> {
        on_blocking(&self.db, |db| db.revoked_families())
    }

    fn token_keys<'a>(&'a self, first: Option<&'a str>) -> BoxFuture<'a, Vec<String>> {
        let (path, first) = (self.keys_path.clone(), first.map(str::to_owned));
        on_blocking(&self.db, move |_| {
            if !path.exists() {
                let Some(first) = first else { return Ok(Vec::new()) };
                marquee_store::files::write_secret(&path, &Self::write_keys(&[first])?)?;
            }
            Self::read_keys(&path)
        })
    }

    fn add_token_key<'a>(&'a self, key: &'a str, kept: usize) -> BoxFuture<'a, Vec<String>> {
        let (path, key) = (self.keys_path.clone(), key.to_owned());
        on_blocking(&self.db, move |_| {
            let mut keys = Self::read_keys(&path)?;
            keys.insert(0, key);
            keys.truncate(kept);
            marquee_store::files::write_atomically(&path, &Self::write_keys(&keys)?)?;
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_kv_passes_the_key_value_conformance_suite() {
        let dir = crate::TestDir::new("kv");
        let kv = EmbeddedKv(Arc::new(Db::open(&dir.0.join("m.db")).unwrap()));
        marquee_store::conformance::key_value(&kv).await;
    }

    #[tokio::test]
    async fn the_embedded_catalog_passes_the_catalog_conformance_suite() {
        let dir = crate::TestDir::new("catalog");
        marquee_store::conformance::catalog(Arc::new(EmbeddedCatalog(Arc::new(Db::open(&dir.0.join("m.db")).unwrap())))).await;
    }

    #[tokio::test]
    async fn a_data_dir_catalog_moves_into_an_empty_shared_one_once() {
        let dir = crate::TestDir::new("move");
        let here = Arc::new(Db::open(&dir.0.join("marquee.db")).unwrap());
        let row = |namespace: &str, deployment: &str| PerformanceRow {
            namespace: namespace.into(),
            deployment: deployment.into(),
            owner: "ann".into(),
            template: "seated".into(),
            params: "{}".into(),
            spec: "{}".into(),
            created_at: 1,
        };
        let local = EmbeddedCatalog(here.clone());
        for (namespace, deployment) in [("old", "d1"), ("gala", "d2")] {
            assert!(local.insert_performance(&row(namespace, deployment)).await.unwrap());
        }
        local.remove_performance("old", "d1", 7, true).await.unwrap();
        local.put_template("mine", r#"{"name":"mine"}"#, 1).await.unwrap();
        let token = NamespaceToken {
            id: "t1".into(),
            deployment: "d2".into(),
            namespace: "gala".into(),
            created_by: "ann".into(),
            scope: TokenScope::Door,
            label: "door B".into(),
        };
        local.insert_namespace_token(&token, "h", 1).await.unwrap();

        let shared = EmbeddedCatalog(Arc::new(Db::open(&dir.0.join("shared.db")).unwrap()));
        crate::move_catalog(&dir.0, &shared).await.unwrap();
        assert_eq!(shared.performances().await.unwrap(), [row("gala", "d2")]);
        assert!(shared.deployments().await.unwrap().contains(&("old".into(), "d1".into(), "{}".into(), Some(7))), "archived stays archived");
        assert_eq!(shared.templates().await.unwrap(), [r#"{"name":"mine"}"#]);
        assert_eq!(shared.namespace_token("t1").await.unwrap(), Some((token, "h".into())));
        local.remove_performance("gala", "d2", 9, false).await.unwrap();
        crate::move_catalog(&dir.0, &shared).await.unwrap();
        assert_eq!(shared.performances().await.unwrap().len(), 1, "moved once: the marker stops a second move");
    }

    #[tokio::test]
    async fn the_embedded_identity_passes_the_identity_conformance_suite() {
        let dir = crate::TestDir::new("identity");
        let identity = EmbeddedIdentity { db: Arc::new(Db::open(&dir.0.join("m.db")).unwrap()), keys_path: dir.0.join("token-keys.json") };
        marquee_store::conformance::identity(Arc::new(identity)).await;
    }
}
