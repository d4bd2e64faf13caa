//! The control plane's catalog on Redis, so every control plane of a store shares it: plain
//! hashes, and one script (`catalog.lua`) for the steps that check and write at once. Every
//! key is under the hash tag `{cat}`.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use marquee_store::{BoxFuture, Catalog, ComponentRow, DeploymentRow, NamespaceToken, PerformanceRow, TokenScope};
use redis::{AsyncCommands, FromRedisValue};

use crate::{Answered, RedisStore};

const PREFIX: &str = "{cat}";
const LIVE: &str = "{cat}:live";
const ARCHIVED: &str = "{cat}:archived";
const COMPONENTS: &str = "{cat}:components";
const TEMPLATES: &str = "{cat}:templates";

pub(crate) const ARCHIVED_SET: &str = ARCHIVED;

fn performance_key(namespace: &str) -> String {
    format!("{PREFIX}:perf:{namespace}")
}

fn poster_key(digest: &str) -> String {
    format!("{PREFIX}:poster:{digest}")
}

fn token_key(id: &str) -> String {
    format!("{PREFIX}:token:{id}")
}

/// A field of a stored hash.
pub(crate) fn field(fields: &HashMap<String, String>, name: &str) -> Result<String> {
    fields.get(name).cloned().ok_or_else(|| anyhow!("a stored catalog entry lacks {name}"))
}

/// A namespace token from its stored hash.
pub(crate) fn token_of(fields: &HashMap<String, String>) -> Result<NamespaceToken> {
    Ok(NamespaceToken {
        id: field(fields, "id")?,
        deployment: field(fields, "deployment")?,
        namespace: field(fields, "namespace")?,
        created_by: field(fields, "created_by")?,
        scope: TokenScope::parse(fields.get("scope").map(String::as_str)).context("a stored token's scope")?,
        label: fields.get("label").cloned().unwrap_or_default(),
    })
}

pub(crate) fn performance_of(fields: &HashMap<String, String>) -> Result<PerformanceRow> {
    Ok(PerformanceRow {
        namespace: field(fields, "namespace")?,
        deployment: field(fields, "deployment")?,
        owner: field(fields, "owner")?,
        template: field(fields, "template")?,
        params: field(fields, "params")?,
        spec: field(fields, "spec")?,
        created_at: field(fields, "created_at")?.parse().context("a stored created_at")?,
    })
}

impl RedisStore {
    async fn catalog_step<T: FromRedisValue>(&self, op: &str, args: &[&str]) -> Result<T> {
        self.step(&self.catalog, PREFIX, "catalog", op, args).await
    }

    /// Every hash of `keys`, read in one round trip.
    pub(crate) async fn hashes(&self, keys: impl Iterator<Item = String>) -> Result<Vec<HashMap<String, String>>> {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.hgetall(key);
        }
        if pipe.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        pipe.query_async(&mut connection).await.answered("Redis HGETALL failed")
    }
}

impl Catalog for RedisStore {
    fn insert_performance<'a>(&'a self, row: &'a PerformanceRow) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let created_at = row.created_at.to_string();
            let args = [
                row.namespace.as_str(),
                "namespace", &row.namespace,
                "deployment", &row.deployment,
                "owner", &row.owner,
                "template", &row.template,
                "params", &row.params,
                "spec", &row.spec,
                "created_at", &created_at,
            ];
            Ok(self.catalog_step::<i64>("insert_performance", &args).await? == 1)
        })
    }

    fn update_performance<'a>(&'a self, namespace: &'a str, params: &'a str, spec: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.catalog_step::<i64>("update_performance", &[namespace, params, spec]).await?;
            Ok(())
        })
    }

    fn remove_performance<'a>(&'a self, namespace: &'a str, deployment: &'a str, now: i64, archive: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let archive = if archive { "1" } else { "0" };
            self.catalog_step::<i64>("remove_performance", &[namespace, &now.to_string(), archive, deployment]).await?;
            Ok(())
        })
    }

    fn performances(&self) -> BoxFuture<'_, Vec<PerformanceRow>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let live: Vec<String> = connection.smembers(LIVE).await.answered("Redis SMEMBERS failed")?;
            let mut rows = Vec::with_capacity(live.len());
            // A namespace listed while its hash went (a remove in between) is not live.
            for fields in self.hashes(live.iter().map(|n| performance_key(n))).await?.iter().filter(|f| !f.is_empty()) {
                rows.push(performance_of(fields)?);
            }
            rows.sort_by(|a, b| (a.created_at, &a.namespace).cmp(&(b.created_at, &b.namespace)));
            Ok(rows)
        })
    }

    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentRow>> {
        Box::pin(async move {
            let mut all: Vec<DeploymentRow> = self.performances().await?.into_iter().map(|r| (r.namespace, r.deployment, r.params, None)).collect();
            let mut connection = self.connection.clone();
            let archived: Vec<String> = connection.smembers(ARCHIVED).await.answered("Redis SMEMBERS failed")?;
            for fields in self.hashes(archived.iter().map(|d| format!("{PREFIX}:archived:{d}"))).await?.iter().filter(|f| !f.is_empty()) {
                let row = performance_of(fields)?;
                let archived_at = field(fields, "archived_at")?.parse().context("a stored archived_at")?;
                all.push((row.namespace, row.deployment, row.params, Some(archived_at)));
            }
            Ok(all)
        })
    }

    fn insert_component<'a>(&'a self, component: &'a ComponentRow) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let key = format!("{}\n{}\n{}", component.owner, component.name, component.version);
            let mut connection = self.connection.clone();
            connection.hset_nx(COMPONENTS, key, serde_json::to_string(component)?).await.answered("Redis HSETNX failed")
        })
    }

    fn components<'a>(&'a self, owner: Option<&'a str>) -> BoxFuture<'a, Vec<ComponentRow>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let all: Vec<String> = connection.hvals(COMPONENTS).await.answered("Redis HVALS failed")?;
            let mut rows = Vec::with_capacity(all.len());
            for text in &all {
                let row: ComponentRow = serde_json::from_str(text).context("a stored component")?;
                if owner.is_none_or(|owner| owner == row.owner) {
                    rows.push(row);
                }
            }
            rows.sort_by(|a, b| (a.created_at, &a.name, &a.version).cmp(&(b.created_at, &b.name, &b.version)));
            Ok(rows)
        })
    }

    fn put_template<'a>(&'a self, name: &'a str, body: &'a str, _now: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.hset(TEMPLATES, name, body).await.answered("Redis HSET failed")
        })
    }

    fn delete_template<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.hdel(TEMPLATES, name).await.answered("Redis HDEL failed")
        })
    }

    fn templates(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let all: std::collections::BTreeMap<String, String> = connection.hgetall(TEMPLATES).await.answered("Redis HGETALL failed")?;
            Ok(all.into_values().collect())
        })
    }

    fn insert_namespace_token<'a>(&'a self, token: &'a NamespaceToken, hash: &'a str, now: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let fields = [
                ("id", token.id.as_str()),
                ("deployment", &token.deployment),
                ("namespace", &token.namespace),
                ("created_by", &token.created_by),
                ("scope", token.scope.as_str()),
                ("label", &token.label),
                ("hash", hash),
                ("created_at", &now.to_string()),
                ("revoked", "0"),
            ];
            let mut connection = self.connection.clone();
            connection.hset_multiple(token_key(&token.id), &fields).await.answered("Redis HSET failed")
        })
    }

    fn namespace_token<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<(NamespaceToken, String)>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let fields: HashMap<String, String> = connection.hgetall(token_key(id)).await.answered("Redis HGETALL failed")?;
            if fields.is_empty() || fields.get("revoked").map(String::as_str) != Some("0") {
                return Ok(None);
            }
            Ok(Some((token_of(&fields)?, field(&fields, "hash")?)))
        })
    }

    fn revoke_namespace_token<'a>(&'a self, deployment: &'a str, id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { Ok(self.catalog_step::<i64>("revoke_token", &[id, deployment]).await? == 1) })
    }

    fn put_poster<'a>(&'a self, digest: &'a str, bytes: &'a [u8], _now: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: bool = connection.set_nx(poster_key(digest), bytes).await.answered("Redis SETNX failed")?;
            Ok(())
        })
    }

    fn poster<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.get(poster_key(digest)).await.answered("Redis GET failed")
        })
    }
}
