//! Accounts, refresh-token families and token keys on Redis: one script (`identity.lua`),
//! every key under the hash tag `{id}`.

use anyhow::{Result, anyhow, bail};
use marquee_store::{Account, BoxFuture, Identity, IdentityEvent, RefreshState, Role};
use redis::{FromRedisValue, Value};

use crate::{RedisStore, text};

const PREFIX: &str = "{id}";
/// The channel `identity.lua` publishes on.
const CHANNEL: &str = "marquee:identity";

impl RedisStore {
    /// Calls `on` for every revocation and key rotation any process makes, and with `Resync`
    /// each time the subscription (re)starts, for as long as the task runs.
    pub fn watch_identity(&self, on: impl Fn(IdentityEvent) + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        self.watch(CHANNEL, move |message| {
            on(match message {
                None => IdentityEvent::Resync,
                Some(text) => match text.strip_prefix("revoked:") {
                    Some(family) => IdentityEvent::Revoked(family.to_string()),
                    None => IdentityEvent::KeysRotated,
                },
            })
        })
    }
}

impl RedisStore {
    async fn identity_step<T: FromRedisValue>(&self, op: &str, args: &[&str]) -> Result<T> {
        self.step(&self.identity, PREFIX, "identity", op, args).await
    }

    async fn strings(&self, op: &str, args: &[&str]) -> Result<Vec<String>> {
        let reply: Vec<Value> = self.identity_step(op, args).await?;
        reply.iter().map(text).collect()
    }

    async fn account(&self, op: &str, arg: &str) -> Result<Option<Account>> {
        let reply = self.strings(op, &[arg]).await?;
        if reply[0] == "none" {
            return Ok(None);
        }
        let fields: std::collections::HashMap<&str, &str> =
            reply[1..].chunks(2).filter_map(|pair| Some((pair.first()?.as_str(), pair.get(1)?.as_str()))).collect();
        let field = |name: &str| fields.get(name).map(|v| v.to_string()).ok_or_else(|| anyhow!("a stored account lacks {name}"));
        Ok(Some(Account {
            id: field("id")?,
            email: field("email")?,
            password_hash: field("password_hash")?,
            role: Role::parse(&field("role")?).ok_or_else(|| anyhow!("a stored account has an unknown role"))?,
            must_change_password: field("must_change_password")? == "1",
        }))
    }
}

impl Identity for RedisStore {
    fn insert_account<'a>(&'a self, a: &'a Account, now: i64) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let must_change = if a.must_change_password { "1" } else { "0" };
            let args = [a.id.as_str(), &a.email, &a.password_hash, a.role.as_str(), must_change, &now.to_string()];
            Ok(self.identity_step::<i64>("insert_account", &args).await? == 1)
        })
    }

    fn account_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Option<Account>> {
        Box::pin(self.account("account_by_email", email))
    }

    fn account_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Account>> {
        Box::pin(self.account("account_by_id", id))
    }

    fn account_count(&self) -> BoxFuture<'_, u64> {
        Box::pin(async move { self.identity_step("account_count", &[]).await })
    }

    fn set_password<'a>(&'a self, account_id: &'a str, password_hash: &'a str) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move { self.strings("set_password", &[account_id, password_hash]).await })
    }

    fn insert_refresh<'a>(&'a self, hash: &'a str, family: &'a str, account_id: &'a str, expires_at: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.identity_step::<i64>("insert_refresh", &[hash, family, account_id, &expires_at.to_string()]).await.map(drop) })
    }

    fn rotate_refresh<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, RefreshState> {
        Box::pin(async move {
            let reply = self.strings("rotate_refresh", &[hash]).await?;
            Ok(match reply.as_slice() {
                [tag] if tag == "unknown" => RefreshState::Unknown,
                [tag, family] if tag == "reused" => RefreshState::Reused { family: family.clone() },
                [tag, family, account_id, expires_at] if tag == "live" => {
                    RefreshState::Live { family: family.clone(), account_id: account_id.clone(), expires_at: expires_at.parse()? }
                }
                other => bail!("unexpected Redis answer {other:?}"),
            })
        })
    }

    fn revoke_family_of<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let reply = self.strings("revoke_family_of", &[hash]).await?;
            Ok(reply.get(1).cloned())
        })
    }

    fn revoked_families(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(self.strings("revoked_families", &[]))
    }

    fn token_keys<'a>(&'a self, first: Option<&'a str>) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move { self.strings("token_keys", first.as_slice()).await })
    }

    fn add_token_key<'a>(&'a self, key: &'a str, kept: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move { self.strings("add_token_key", &[key, &kept.to_string()]).await })
    }
}
