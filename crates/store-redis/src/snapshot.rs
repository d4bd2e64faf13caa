//! What a backup reads of Redis and a restore writes into an empty one. Keys without an index
//! (accounts, refresh tokens, messages, a scope's `kv`) are listed with `SCAN`, a page per
//! cursor, so a large store is never read at once; orders come from each performance's
//! sorted set, a standing one put back with its claims by one step of `claims.lua`.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use marquee_store::{AccountRecord, BoxFuture, Entry, Message, NamespaceTokenRecord, OrderRow, Page, PerformanceRow, RefreshToken, Restored, Role, Snapshot};
use redis::AsyncCommands;

use crate::catalog::{ARCHIVED_SET, field, performance_of, token_of};
use crate::{Answered, RedisStore};

impl RedisStore {
    /// One `SCAN` page of keys matching `pattern`.
    async fn scan_page(&self, pattern: &str, cursor: Option<&str>, limit: usize) -> Result<(Vec<String>, Option<String>)> {
        let mut connection = self.connection.clone();
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor.unwrap_or("0"))
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut connection)
            .await
            .answered("Redis SCAN failed")?;
        Ok((keys, (next != "0").then_some(next)))
    }

    /// One `SCAN` page of the hashes whose keys match `pattern`, each with the rest of its key
    /// after `prefix`; a hash gone meanwhile is left out.
    async fn hash_page(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<(Vec<(String, HashMap<String, String>)>, Option<String>)> {
        let (keys, next) = self.scan_page(&format!("{prefix}*"), cursor, limit).await?;
        let hashes = self.hashes(keys.iter().cloned()).await?;
        let found = keys.into_iter().zip(hashes).filter(|(_, h)| !h.is_empty()).map(|(k, h)| (k[prefix.len()..].to_owned(), h)).collect();
        Ok((found, next))
    }
}

fn number<T: std::str::FromStr>(fields: &HashMap<String, String>, name: &str) -> Result<T> {
    field(fields, name)?.parse().map_err(|_| anyhow!("a stored {name} is not a number"))
}

impl Snapshot for RedisStore {
    fn accounts<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<AccountRecord>> {
        Box::pin(async move {
            let (found, next) = self.hash_page("{id}:acct:", cursor, limit).await?;
            let items = found
                .iter()
                .map(|(_, f)| {
                    let account = marquee_store::Account {
                        id: field(f, "id")?,
                        email: field(f, "email")?,
                        password_hash: field(f, "password_hash")?,
                        role: Role::parse(&field(f, "role")?).ok_or_else(|| anyhow!("a stored account has an unknown role"))?,
                        must_change_password: field(f, "must_change_password")? == "1",
                    };
                    Ok(AccountRecord { account, created_at: number(f, "created_at").unwrap_or_default() })
                })
                .collect::<Result<_>>()?;
            Ok(Page { items, next })
        })
    }

    fn refresh_tokens<'a>(&'a self, cursor: Option<&'a str>, limit: usize, now: i64) -> BoxFuture<'a, Page<RefreshToken>> {
        Box::pin(async move {
            let (found, next) = self.hash_page("{id}:rt:", cursor, limit).await?;
            let mut items = Vec::with_capacity(found.len());
            for (hash, f) in &found {
                let expires_at = number(f, "expires")?;
                if expires_at > now {
                    items.push(RefreshToken { hash: hash.clone(), family: field(f, "family")?, account_id: field(f, "account")?, expires_at, state: number(f, "state")? });
                }
            }
            Ok(Page { items, next })
        })
    }

    fn put_refresh_token<'a>(&'a self, t: &'a RefreshToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let (expires, state) = (t.expires_at.to_string(), t.state.to_string());
            let _: i64 = self.step(&self.identity, "{id}", "identity", "put_refresh", &[&t.hash, &t.family, &t.account_id, &expires, &state]).await?;
            Ok(())
        })
    }

    fn archived(&self) -> BoxFuture<'_, Vec<(PerformanceRow, i64)>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let deployments: Vec<String> = connection.smembers(ARCHIVED_SET).await.answered("Redis SMEMBERS failed")?;
            let hashes = self.hashes(deployments.iter().map(|d| format!("{{cat}}:archived:{d}"))).await?;
            hashes.iter().filter(|f| !f.is_empty()).map(|f| Ok((performance_of(f)?, number(f, "archived_at")?))).collect()
        })
    }

    fn namespace_tokens(&self) -> BoxFuture<'_, Vec<NamespaceTokenRecord>> {
        Box::pin(async move {
            let (mut all, mut cursor) = (Vec::new(), None);
            loop {
                let (found, next) = self.hash_page("{cat}:token:", cursor.as_deref(), 500).await?;
                for (_, f) in found.iter().filter(|(_, f)| f.get("revoked").map(String::as_str) == Some("0")) {
                    all.push((token_of(f)?, field(f, "hash")?, number(f, "created_at")?));
                }
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            // A SCAN may hand a key out twice.
            all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            all.dedup_by(|a, b| a.0.id == b.0.id);
            Ok(all)
        })
    }

    fn posters(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move { self.all_keys("{cat}:poster:").await })
    }

    fn kv<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<(String, String, Vec<u8>)>> {
        Box::pin(async move {
            let (keys, next) = self.scan_page("{p:*}:kv:*", cursor, limit).await?;
            let mut connection = self.connection.clone();
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.get(key);
            }
            let values: Vec<Option<Vec<u8>>> = if keys.is_empty() { Vec::new() } else { pipe.query_async(&mut connection).await.answered("Redis GET failed")? };
            let mut items = Vec::with_capacity(keys.len());
            for (full, value) in keys.iter().zip(values) {
                // `{p:<scope>}:kv:<key>`; a key deleted meanwhile is left out.
                let (scope, key) = full.strip_prefix("{p:").and_then(|rest| rest.split_once("}:kv:")).with_context(|| format!("a kv key {full:?}"))?;
                if let Some(value) = value {
                    items.push((scope.to_owned(), key.to_owned(), value));
                }
            }
            Ok(Page { items, next })
        })
    }

    fn messages<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFuture<'a, Page<Message>> {
        Box::pin(async move {
            let (found, next) = self.hash_page("{out}:m:", cursor, limit).await?;
            let items = found.into_iter().map(|(id, f)| crate::outbox::message(id, &f)).collect::<Result<_>>()?;
            Ok(Page { items, next })
        })
    }

    fn put_message<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let numbers = [m.created_at.to_string(), m.due_at.to_string(), m.attempts.to_string()];
            let args = [&m.id, &m.queue, &m.scope, &m.body, &numbers[0], &numbers[1], &numbers[2], m.last_error.as_deref().unwrap_or(""), m.state.as_str()];
            let _: i64 = self.step(&self.outbox, "{out}", "outbox", "restore", &args).await?;
            Ok(())
        })
    }

    fn orders<'a>(&'a self, deployment: &'a str, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<OrderRow>> {
        Box::pin(async move { self.claims(deployment, 0).do_orders_after(after, limit).await?.iter().map(|o| o.row()).collect() })
    }

    fn entries<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, Vec<(String, String, Entry)>> {
        Box::pin(async move { self.claims(deployment, 0).do_entries().await })
    }

    fn put_order<'a>(&'a self, deployment: &'a str, row: &'a OrderRow, claims: Option<&'a Restored>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let record = serde_json::to_string(&OrderRow { refunds: Vec::new(), ..row.clone() })?;
            let (seats, units, tickets) = match claims {
                Some(c) => (
                    serde_json::to_string(&c.seats)?,
                    serde_json::to_string(&c.units.iter().map(|u| (&u.pool, u.quantity, u.capacity, u.per_buyer)).collect::<Vec<_>>())?,
                    c.tickets,
                ),
                None => ("[]".to_owned(), "[]".to_owned(), 0),
            };
            let numbers = [row.created_at.to_string(), row.amount.to_string(), tickets.to_string()];
            let refunds = serde_json::to_string(&row.refunds)?;
            let args = [
                row.id.as_str(),
                &row.buyer,
                &row.session,
                &numbers[0],
                &record,
                row.status.as_str(),
                &refunds,
                &numbers[1],
                &row.hold_id,
                &seats,
                &units,
                &numbers[2],
            ];
            let reply = self.claims(deployment, 0).strings("restore", &args).await?;
            match reply.first().map(String::as_str) {
                Some("ok") => Ok(()),
                Some("exists") => Err(anyhow!("order {} of {deployment} is in the store already", row.id)),
                Some("taken") => Err(anyhow!("seat {} of order {} is claimed already", reply.get(1).map_or("", String::as_str), row.id)),
                other => Err(anyhow!("unexpected Redis answer {other:?}")),
            }
            .context("restoring an order")
        })
    }

    fn put_entry<'a>(&'a self, deployment: &'a str, order: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let first = format!("{} {}", entry.at, entry.door.as_deref().unwrap_or(""));
            self.claims(deployment, 0).strings("restore_entry", &[order, ticket, &first]).await?;
            Ok(())
        })
    }
}

impl RedisStore {
    /// Every key after `prefix` (a `SCAN` to the end), each once, sorted.
    async fn all_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let (keys, next) = self.scan_page(&format!("{prefix}*"), cursor.as_deref(), 1000).await?;
            all.extend(keys.into_iter().map(|k| k[prefix.len()..].to_owned()));
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }
}
