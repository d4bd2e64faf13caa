//! The claim store on Redis. Every step is one call of one Lua script (`claims.lua`), so a
//! check and its writes are atomic however many runtimes share the store; expiry runs by the
//! server's clock. A step answered is durable as far as the server's AOF settings make it:
//! [`RedisStore::connect`] refuses a server that would lose acknowledged writes.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use marquee_store::{
    BoxFuture, Cancelled, CheckIn, ClaimStore, ConfirmStart, Confirming, Entry, Held, HoldOutcome, HoldRequest, KeyValue, Money,
    OrderStatus, PoolCount, RateBuckets, RefundRequest, Refunded, Refusal, StoredOrder, Taken, Unavailable,
};
use redis::{AsyncCommands, FromRedisValue, Value};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

mod catalog;
mod directory;
mod identity;
mod local;
mod outbox;
mod serving;
mod snapshot;
mod backend;
pub use local::{Access, LocalRedis};
pub use serving::SERVING_TTL_SECONDS;

/// A Redis URL to connect with, and to show in messages and logs without its password.
struct Shown<'a> {
    secret: &'a str,
    redacted: String,
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// `redis://user:PASSWORD@host` and `…?pass=PASSWORD` with the password as `***`.
fn shown(url: &str) -> Shown<'_> {
    let mut redacted = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((credentials, address)) = rest.rsplit_once('@')
        && let Some((user, _)) = credentials.split_once(':')
    {
        redacted = format!("{scheme}://{user}:***@{address}");
    }
    if let Some((head, query)) = redacted.clone().split_once('?') {
        let pairs: Vec<String> =
            query.split('&').map(|pair| if pair.starts_with("pass=") { "pass=***".to_owned() } else { pair.to_owned() }).collect();
        redacted = format!("{head}?{}", pairs.join("&"));
    }
    Shown { secret: url, redacted }
}

/// Redis 7.0 replays the AOF's transactions (how a script's writes are logged) under the rules
/// of its `default` user: turned off without its commands, a restart drops every order. Asked
/// with `ACL DRYRUN` where our user may; a server that does not let it ask is taken as it is.
async fn replays_scripted_writes(connection: &mut ConnectionManager, url: &Shown<'_>) -> Result<()> {
    for (command, args) in [("EXEC", &[][..]), ("HSET", &["k", "f", "1"]), ("HINCRBY", &["k", "f", "1"]), ("SET", &["k", "1"]), ("ZADD", &["k", "1", "m"]), ("DEL", &["k"])] {
        let answer: redis::RedisResult<String> = redis::cmd("ACL").arg("DRYRUN").arg("default").arg(command).arg(args).query_async(connection).await;
        match answer {
            Ok(ok) if ok == "OK" => {}
            Ok(refusal) => bail!(
                "Redis at {url} would drop confirmed orders when it restarts: it replays its append-only file under the \
                 rules of the `default` user, which may not run {command} ({refusal}); keep the default user off but give \
                 it its commands (`user default off ~* &* +@all`)"
            ),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A Unix socket, `localhost` or a loopback address (names are not resolved: a name may lead
/// anywhere).
fn local_only_addr(address: &redis::ConnectionAddr) -> bool {
    let host = match address {
        redis::ConnectionAddr::Unix(_) => return true,
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => host,
        _ => return false,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether Redis turned a client away for giving no (or wrong) credentials.
fn refused_without_credentials(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || ["NOAUTH", "NOPERM", "WRONGPASS"].iter().any(|code| error.code() == Some(code) || error.to_string().contains(code))
}

/// A Redis answer as the store reports it: Redis not answering (down, unreachable, too slow)
/// is [`Unavailable`], which the caller may retry; anything else is a fault.
pub(crate) trait Answered<T> {
    fn answered(self, what: &'static str) -> Result<T>;
    fn answered_with(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Answered<T> for redis::RedisResult<T> {
    fn answered(self, what: &'static str) -> Result<T> {
        self.map_err(reported).context(what)
    }

    fn answered_with(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(reported).with_context(what)
    }
}

fn reported(e: redis::RedisError) -> anyhow::Error {
    if e.is_timeout() || e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        anyhow::Error::new(Unavailable(Box::new(e)))
    } else {
        anyhow::Error::new(e)
    }
}

/// How long a health check's PING may take: past it the store counts as down.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a step's answer may take before the call fails.
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an idempotency key is remembered after its hold was made.
const KEY_TTL_MS: u64 = 24 * 3600 * 1000;
/// How long a released or expired hold is remembered (410 rather than 404), in hold TTLs.
const TOMBSTONE_TTLS: u64 = 4;

/// One Redis server (or a cluster's entry point) and the script of every step.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    connection: ConnectionManager,
    claims: redis::Script,
    bucket: redis::Script,
    identity: redis::Script,
    catalog: redis::Script,
    outbox: redis::Script,
}

impl RedisStore {
    /// Runs step `op` of a script whose keys all sit under the hash tag `prefix`.
    pub(crate) async fn step<T: FromRedisValue>(&self, script: &redis::Script, prefix: &str, what: &str, op: &str, args: &[&str]) -> Result<T> {
        let mut invocation = script.key(prefix);
        invocation.arg(op);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        invocation.invoke_async(&mut connection).await.answered_with(|| format!("Redis {what} step {op} failed"))
    }
}

/// Whether the server may lose writes it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `appendonly yes` and `appendfsync always` are required.
    Required,
    /// Accept whatever the server does (tests of speed, caches).
    Relaxed,
}

impl RedisStore {
    /// Connects (reconnecting on its own later) and checks that a confirmed order answered
    /// is on disk before the answer.
    pub async fn connect(url: &str, durability: Durability) -> Result<Self> {
        Self::connect_with(url, durability, None).await
    }

    /// [`connect`](Self::connect), trusting only the CA in `ca` (PEM) for a `rediss://` server's
    /// certificate instead of the system's roots: a Redis whose certificate a private CA signed.
    pub async fn connect_with(url: &str, durability: Durability, ca: Option<Vec<u8>>) -> Result<Self> {
        let url = &shown(url);
        let client = match ca {
            Some(pem) => {
                anyhow::ensure!(url.secret.starts_with("rediss://"), "a CA for the store's certificate is for a rediss:// (TLS) address, not {url}");
                let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                redis::Client::build_with_tls(url.secret, certificates)
            }
            None => redis::Client::open(url.secret),
        }
        .with_context(|| format!("bad Redis address {url}"))?;
        // The default 500 ms answer timeout is shorter than an fsync on a busy disk, and a
        // step timed out may still have been applied: wait longer for the answer instead.
        let config = ConnectionManagerConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| format!("failed to connect to Redis at {url}"))?;
        if durability == Durability::Required {
            let mut settings = HashMap::new();
            for name in ["appendonly", "appendfsync"] {
                let pair: HashMap<String, String> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg(name)
                    .query_async(&mut connection)
                    .await
                    .with_context(|| format!("failed to read the Redis setting {name}"))?;
                settings.extend(pair);
            }
            let appendonly = settings.get("appendonly").map(String::as_str);
            let appendfsync = settings.get("appendfsync").map(String::as_str);
            if appendonly != Some("yes") || appendfsync != Some("always") {
                bail!(
                    "Redis at {url} has appendonly {} and appendfsync {}: it could lose confirmed orders; \
                     set `appendonly yes` and `appendfsync always`, or start with --store-durability relaxed",
                    appendonly.unwrap_or("?"),
                    appendfsync.unwrap_or("?")
                );
            }
            replays_scripted_writes(&mut connection, url).await?;
        }
        Ok(Self {
            client,
            connection,
            claims: redis::Script::new(include_str!("claims.lua")),
            bucket: redis::Script::new(include_str!("bucket.lua")),
            identity: redis::Script::new(include_str!("identity.lua")),
            catalog: redis::Script::new(include_str!("catalog.lua")),
            outbox: redis::Script::new(include_str!("outbox.lua")),
        })
    }

    /// Whether the server serves a client that gives no credentials (its `default` user on
    /// without a password): then anything that reaches it may read the token keys and rewrite
    /// orders. Asked over a connection of its own, without the URL's user and password.
    pub async fn open_to_anyone(&self) -> Result<bool> {
        let info = self.client.get_connection_info().clone().set_redis_settings(redis::RedisConnectionInfo::default());
        let anonymous = redis::Client::open(info).context("bad Redis address")?;
        let ping = async {
            let mut connection = anonymous.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut connection).await
        };
        match tokio::time::timeout(RESPONSE_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) if refused_without_credentials(&e) => Ok(false),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("failed to ask Redis whether it needs a password")),
            Err(_) => bail!("Redis did not answer whether it needs a password"),
        }
    }

    /// Whether only this machine reaches the server: a Unix socket or a loopback address.
    pub fn local_only(&self) -> bool {
        local_only_addr(self.client.get_connection_info().addr())
    }

    /// Whether the server answers a PING within half a second.
    pub async fn ping(&self) -> bool {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        matches!(tokio::time::timeout(PING_TIMEOUT, ping).await, Ok(Ok(_)))
    }

    /// The claims of one performance; `hold_ttl_ms` sets how long an ended hold is remembered.
    pub fn claims(&self, namespace: &str, hold_ttl_ms: u64) -> RedisClaims {
        RedisClaims {
            store: self.clone(),
            prefix: format!("{{p:{namespace}}}"),
            tombstone_ms: (TOMBSTONE_TTLS * hold_ttl_ms).max(1000),
        }
    }
}

impl RedisStore {
    /// Calls `on` with every message published on `channel`, and with `None` each time the
    /// subscription (re)starts: after subscribing, so a change made while it was down is
    /// never missed by a caller that reloads everything on `None`. A lost connection is
    /// retried every 200 ms, for as long as the task runs.
    pub(crate) fn watch(&self, channel: &'static str, on: impl Fn(Option<String>) + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        use futures_util::StreamExt;
        let client = self.client.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe(channel).await.is_ok()
                {
                    on(None);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(text) = message.get_payload::<String>() {
                            on(Some(text));
                        }
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    }
}

/// `kv` values live beside the performance's claims, under its hash tag.
impl KeyValue for RedisStore {
    fn get<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.get(kv_key(scope, key)).await.answered("Redis GET failed")
        })
    }

    fn set<'a>(&'a self, scope: &'a str, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.set(kv_key(scope, key), value).await.answered("Redis SET failed")
        })
    }

    fn delete<'a>(&'a self, scope: &'a str, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.del(kv_key(scope, key)).await.answered("Redis DEL failed")
        })
    }

    /// Scans the scope's keys (a scope is a deployment id: no glob characters) and deletes
    /// them in batches.
    fn clear<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let keys: Vec<String> = {
                let mut scan = connection.scan_match::<_, String>(format!("{{p:{scope}}}:kv:*")).await.answered("Redis SCAN failed")?;
                let mut keys = Vec::new();
                while let Some(key) = futures_util::StreamExt::next(&mut scan).await {
                    keys.push(key.context("Redis SCAN failed")?);
                }
                keys
            };
            for batch in keys.chunks(500) {
                let _: () = connection.del(batch).await.answered("Redis DEL failed")?;
            }
            Ok(())
        })
    }
}

/// Each bucket is one key of its own (no hash tag: buckets need no neighbours, and spread
/// over a cluster's slots).
impl RateBuckets for RedisStore {
    fn take<'a>(&'a self, limit: &'a str, key: &'a str, count: u32, period: std::time::Duration) -> BoxFuture<'a, Result<(), std::time::Duration>> {
        Box::pin(async move {
            let period_us = period.as_micros().max(1) as u64;
            let mut invocation = self.bucket.key(format!("rate:{limit}:{key}"));
            invocation.arg(period_us / u64::from(count.max(1))).arg(period_us);
            let mut connection = self.connection.clone();
            let wait_us: u64 = invocation.invoke_async(&mut connection).await.answered("Redis rate-limit step failed")?;
            Ok(if wait_us == 0 { Ok(()) } else { Err(std::time::Duration::from_micros(wait_us)) })
        })
    }
}

fn kv_key(scope: &str, key: &str) -> String {
    format!("{{p:{scope}}}:kv:{key}")
}

/// The claims of one performance, all under its hash tag.
pub struct RedisClaims {
    store: RedisStore,
    prefix: String,
    tombstone_ms: u64,
}

impl RedisClaims {
    /// Runs one step of the script.
    async fn step(&self, op: &str, args: &[&str]) -> Result<Vec<Value>> {
        let mut invocation = self.store.claims.key(&self.prefix);
        invocation.arg(op).arg(self.tombstone_ms);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.store.connection.clone();
        let reply: Value = invocation.invoke_async(&mut connection).await.answered_with(|| format!("Redis step {op} failed"))?;
        match reply {
            Value::Array(items) => Ok(items),
            other => Err(anyhow!("Redis step {op} answered {other:?}")),
        }
    }

    /// A step whose answer is a tag and strings.
    async fn strings(&self, op: &str, args: &[&str]) -> Result<Vec<String>> {
        self.step(op, args).await?.iter().map(text).collect()
    }
}

/// This machine's clock, in seconds (for freshness marks that need no precision).
pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn text(value: &Value) -> Result<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).context("a Redis answer is not UTF-8"),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(anyhow!("unexpected Redis value {other:?}")),
    }
}

fn refusal(tag: &str) -> Result<Refusal> {
    Ok(match tag {
        "not_found" => Refusal::NotFound,
        "expired" => Refusal::Expired,
        "forbidden" => Refusal::Forbidden,
        "busy" => Refusal::Busy,
        "closed" => Refusal::Closed,
        "used" => Refusal::Used,
        "refunded" => Refusal::Refunded,
        other => bail!("unexpected Redis answer {other}"),
    })
}

/// `[tag, id, buyer, record, status, refunds]` as an order.
fn order(reply: &[String]) -> Result<StoredOrder> {
    let [_, id, buyer, record, status, refunds, ..] = reply else { bail!("malformed order answer from Redis") };
    Ok(StoredOrder {
        order_id: id.clone(),
        buyer: buyer.clone(),
        record: record.clone(),
        status: order_status(status)?,
        refunds: serde_json::from_str(refunds).context("refunds in Redis")?,
    })
}

fn order_status(text: &str) -> Result<OrderStatus> {
    OrderStatus::parse(text).ok_or_else(|| anyhow!("unknown order status {text}"))
}

/// An entry as the script keeps it: `"<ms> <door>"`, the door empty when none was named.
fn entry(text: &str) -> Result<Entry> {
    let (at, door) = text.split_once(' ').ok_or_else(|| anyhow!("malformed entry {text:?} in Redis"))?;
    Ok(Entry { at: at.parse()?, door: (!door.is_empty()).then(|| door.to_string()) })
}

fn held(reply: &[String]) -> Result<Held> {
    let [_, id, expires, payload] = reply else { bail!("malformed hold answer from Redis") };
    Ok(Held { hold_id: id.clone(), expires_at: expires.parse()?, payload: payload.clone() })
}

impl RedisClaims {
    async fn do_hold(&self, r: &HoldRequest) -> Result<HoldOutcome> {
        let seats = serde_json::to_string(&r.seats)?;
        let units = serde_json::to_string(&r.units.iter().map(|u| (&u.pool, u.quantity, u.capacity, u.per_buyer)).collect::<Vec<_>>())?;
        let (key, fingerprint) = r.key.as_ref().map(|(k, f)| (k.as_str(), f.as_str())).unwrap_or(("", ""));
        let numbers = [r.tickets.to_string(), r.buyer_limit.to_string(), r.address_cap.to_string(), r.ttl_ms.to_string()];
        let (amount, key_ttl, unpaid) = (r.amount.to_string(), KEY_TTL_MS.to_string(), r.unpaid.to_string());
        let args = [
            r.session.as_str(),
            &r.hold_id,
            &r.buyer,
            r.address.as_deref().unwrap_or(""),
            &seats,
            &units,
            &numbers[0],
            &numbers[1],
            &numbers[2],
            &numbers[3],
            &amount,
            key,
            fingerprint,
            &r.payload,
            &key_ttl,
            &unpaid,
        ];
        let reply = self.strings("hold", &args).await?;
        Ok(match reply[0].as_str() {
            "held" => HoldOutcome::Held(held(&reply)?),
            "existing" => HoldOutcome::Existing(held(&reply)?),
            "unavailable" => HoldOutcome::Unavailable(reply[1..].to_vec()),
            "over_limit" => HoldOutcome::OverLimit,
            "address_limit" => HoldOutcome::AddressLimit,
            "key_reused" => HoldOutcome::KeyReused,
            "key_confirmed" => HoldOutcome::KeyConfirmed,
            "expired" => HoldOutcome::Expired,
            "closed" => HoldOutcome::Closed,
            other => bail!("unexpected Redis answer {other}"),
        })
    }

    async fn do_release(&self, hold_id: &str, buyer: &str) -> Result<Result<(), Refusal>> {
        let reply = self.strings("release", &[hold_id, buyer]).await?;
        Ok(if reply[0] == "ok" { Ok(()) } else { Err(refusal(&reply[0])?) })
    }

    async fn do_begin_confirm(&self, hold_id: &str, buyer: &str, lease_ms: u64) -> Result<ConfirmStart> {
        let reply = self.strings("begin_confirm", &[hold_id, buyer, &lease_ms.to_string()]).await?;
        Ok(match reply[0].as_str() {
            "ready" => {
                let [_, session, amount, payload] = reply.as_slice() else { bail!("malformed confirm answer from Redis") };
                ConfirmStart::Ready(Confirming { session: session.clone(), amount: amount.parse()?, payload: payload.clone() })
            }
            "done" => ConfirmStart::Done(order(&reply)?),
            tag => ConfirmStart::Refused(refusal(tag)?),
        })
    }

    async fn do_commit_confirm(&self, hold_id: &str, order_id: &str, created_at: u64, record: &str) -> Result<bool> {
        let reply = self.strings("commit_confirm", &[hold_id, order_id, &created_at.to_string(), record]).await?;
        Ok(reply[0] == "ok")
    }

    async fn do_abort_confirm(&self, hold_id: &str) -> Result<()> {
        self.step("abort_confirm", &[hold_id]).await.map(drop)
    }

    async fn do_cancel(&self, order_id: &str, buyer: Option<&str>) -> Result<Result<Cancelled, Refusal>> {
        let reply = self.strings("cancel", &[order_id, buyer.unwrap_or("")]).await?;
        if reply[0] != "order" {
            return Ok(Err(refusal(&reply[0])?));
        }
        Ok(Ok(Cancelled { order: order(&reply)?, now: reply.get(6).is_some_and(|n| n == "1") }))
    }

    async fn do_refund(&self, order_id: &str, r: &RefundRequest) -> Result<Result<Refunded, Refusal>> {
        let units = serde_json::to_string(&r.units.iter().map(|u| (&u.pool, u.quantity, u.capacity, u.per_buyer)).collect::<Vec<_>>())?;
        let (tickets, seats) = (serde_json::to_string(&r.tickets)?, serde_json::to_string(&r.seats)?);
        let numbers = [r.counted.to_string(), r.amount.to_string(), r.at.to_string()];
        let reply = self.strings("refund", &[order_id, &tickets, &seats, &units, &numbers[0], &numbers[1], &numbers[2]]).await?;
        if reply[0] != "order" {
            return Ok(Err(refusal(&reply[0])?));
        }
        let order = order(&reply)?;
        let refund = order.refunds.last().cloned().ok_or_else(|| anyhow!("a refund Redis did not record"))?;
        Ok(Ok(Refunded { order, refund }))
    }

    async fn do_money(&self) -> Result<Vec<(String, Money)>> {
        let reply = self.step("money", &[]).await?;
        let [Value::Array(gross), Value::Array(refunded)] = reply.as_slice() else { bail!("malformed money answer from Redis") };
        let mut money: std::collections::BTreeMap<String, Money> = std::collections::BTreeMap::new();
        for (flat, gross) in [(gross, true), (refunded, false)] {
            for pair in flat.chunks(2) {
                let [session, amount] = pair else { bail!("malformed money answer from Redis") };
                let (session, amount): (String, u64) = (text(session)?, text(amount)?.parse()?);
                let entry = money.entry(session).or_default();
                if gross { entry.gross = amount } else { entry.refunded = amount }
            }
        }
        Ok(money.into_iter().collect())
    }

    async fn do_order(&self, order_id: &str) -> Result<Option<StoredOrder>> {
        let reply = self.strings("order", &[order_id]).await?;
        Ok(if reply[0] == "order" { Some(order(&reply)?) } else { None })
    }

    async fn do_orders_of(&self, buyer: &str) -> Result<Vec<StoredOrder>> {
        self.order_list("orders_of", &[buyer]).await
    }

    async fn do_orders_after(&self, after: Option<(u64, &str)>, limit: usize) -> Result<Vec<StoredOrder>> {
        // From the first: at the earliest time, after the empty id (every id sorts above it).
        let (at, id) = after.unwrap_or((0, ""));
        self.order_list("orders_after", &[&at.to_string(), id, &limit.to_string()]).await
    }

    /// A step whose answer is a list of orders.
    async fn order_list(&self, op: &str, args: &[&str]) -> Result<Vec<StoredOrder>> {
        self.step(op, args)
            .await?
            .iter()
            .map(|row| match row {
                Value::Array(items) => order(&items.iter().map(text).collect::<Result<Vec<_>>>()?),
                other => Err(anyhow!("unexpected Redis value {other:?}")),
            })
            .collect()
    }

    async fn do_live_orders(&self) -> Result<Vec<String>> {
        self.strings("live", &[]).await
    }

    async fn do_taken(&self, session: &str, pools: &[&str]) -> Result<Taken> {
        let reply = self.step("taken", &[session, &serde_json::to_string(pools)?]).await?;
        let [Value::Array(seats), Value::Array(counts)] = reply.as_slice() else { bail!("malformed availability answer from Redis") };
        let mut seats = seats.iter().map(text).collect::<Result<Vec<_>>>()?;
        seats.sort_unstable();
        let units = counts.iter().map(|c| Ok(text(c)?.parse()?)).collect::<Result<Vec<u32>>>()?;
        Ok(Taken { seats, units })
    }

    async fn do_counts(&self, pools: &[&str]) -> Result<Vec<PoolCount>> {
        let reply = self.step("counts", &[&serde_json::to_string(pools)?]).await?;
        reply
            .iter()
            .map(|pair| match pair {
                Value::Array(pair) if pair.len() == 2 => Ok(PoolCount { taken: text(&pair[0])?.parse()?, sold: text(&pair[1])?.parse()? }),
                other => Err(anyhow!("unexpected Redis value {other:?}")),
            })
            .collect()
    }

    async fn do_check_in(&self, order_id: &str, ticket: &str, e: &Entry) -> Result<CheckIn> {
        let reply = self.strings("check_in", &[order_id, ticket, &e.at.to_string(), e.door.as_deref().unwrap_or("")]).await?;
        Ok(match (reply[0].as_str(), reply.get(1)) {
            ("admitted", _) => CheckIn::Admitted,
            ("used", Some(first)) => CheckIn::Used(entry(first)?),
            ("not_confirmed", Some(status)) => CheckIn::NotConfirmed(order_status(status)?),
            ("not_found", _) => CheckIn::NotFound,
            (other, _) => bail!("unexpected Redis answer {other}"),
        })
    }

    async fn do_undo_check_in(&self, order_id: &str, ticket: &str) -> Result<Option<Entry>> {
        let reply = self.strings("undo", &[order_id, ticket]).await?;
        reply.get(1).map(|first| entry(first)).transpose()
    }

    async fn do_entries(&self) -> Result<Vec<(String, String, Entry)>> {
        let mut all = self
            .step("entries", &[])
            .await?
            .iter()
            .map(|row| match row {
                Value::Array(items) if items.len() == 3 => Ok((text(&items[0])?, text(&items[1])?, entry(&text(&items[2])?)?)),
                other => Err(anyhow!("unexpected Redis value {other:?}")),
            })
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| (a.2.at, &a.0, &a.1).cmp(&(b.2.at, &b.0, &b.1)));
        Ok(all)
    }

    async fn do_set_closed(&self, closed: bool) -> Result<()> {
        self.step("close", &[if closed { "1" } else { "0" }]).await.map(drop)
    }

    async fn do_paying(&self) -> Result<bool> {
        Ok(self.strings("paying", &[]).await?[0] != "0")
    }
}

/// Each step boxed, so the runtime can pick this backend at run time.
impl ClaimStore for RedisClaims {
    fn hold<'a>(&'a self, request: &'a HoldRequest) -> BoxFuture<'a, HoldOutcome> {
        Box::pin(self.do_hold(request))
    }

    fn release<'a>(&'a self, hold_id: &'a str, buyer: &'a str) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(self.do_release(hold_id, buyer))
    }

    fn begin_confirm<'a>(&'a self, hold_id: &'a str, buyer: &'a str, lease_ms: u64) -> BoxFuture<'a, ConfirmStart> {
        Box::pin(self.do_begin_confirm(hold_id, buyer, lease_ms))
    }

    fn commit_confirm<'a>(&'a self, hold_id: &'a str, order_id: &'a str, created_at: u64, record: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(self.do_commit_confirm(hold_id, order_id, created_at, record))
    }

    fn abort_confirm<'a>(&'a self, hold_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.do_abort_confirm(hold_id))
    }

    fn cancel<'a>(&'a self, order_id: &'a str, buyer: Option<&'a str>) -> BoxFuture<'a, Result<Cancelled, Refusal>> {
        Box::pin(self.do_cancel(order_id, buyer))
    }

    fn refund<'a>(&'a self, order_id: &'a str, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, Refusal>> {
        Box::pin(self.do_refund(order_id, request))
    }

    fn money(&self) -> BoxFuture<'_, Vec<(String, Money)>> {
        Box::pin(self.do_money())
    }

    fn order<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Option<StoredOrder>> {
        Box::pin(self.do_order(order_id))
    }

    fn orders_of<'a>(&'a self, buyer: &'a str) -> BoxFuture<'a, Vec<StoredOrder>> {
        Box::pin(self.do_orders_of(buyer))
    }

    fn orders_after<'a>(&'a self, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<StoredOrder>> {
        Box::pin(self.do_orders_after(after, limit))
    }

    fn live_orders(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(self.do_live_orders())
    }

    fn taken<'a>(&'a self, session: &'a str, pools: &'a [&'a str]) -> BoxFuture<'a, Taken> {
        Box::pin(self.do_taken(session, pools))
    }

    fn counts<'a>(&'a self, pools: &'a [&'a str]) -> BoxFuture<'a, Vec<PoolCount>> {
        Box::pin(self.do_counts(pools))
    }

    fn check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, CheckIn> {
        Box::pin(self.do_check_in(order_id, ticket, entry))
    }

    fn undo_check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str) -> BoxFuture<'a, Option<Entry>> {
        Box::pin(self.do_undo_check_in(order_id, ticket))
    }

    fn entries(&self) -> BoxFuture<'_, Vec<(String, String, Entry)>> {
        Box::pin(self.do_entries())
    }

    fn set_closed(&self, closed: bool) -> BoxFuture<'_, ()> {
        Box::pin(self.do_set_closed(closed))
    }

    fn paying(&self) -> BoxFuture<'_, bool> {
        Box::pin(self.do_paying())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_unix_socket_or_a_loopback_address_is_this_machine_s_alone() {
        // Nothing is connected: the address alone decides (names are not resolved).
        let local = |url: &str| redis::Client::open(url).unwrap().get_connection_info().addr().clone();
        let store_of = |url: &str| super::local_only_addr(&local(url));
        for url in ["unix:///run/redis.sock", "redis://127.0.0.1:6379", "redis://127.8.0.1", "redis://localhost:6379", "redis://[::1]:6379", "redis://[::ffff:127.0.0.1]:6379", "rediss://localhost:6380"] {
            assert!(store_of(url), "{url}");
        }
        for url in ["redis://10.0.0.7:6379", "redis://marquee-redis.marquee-system.svc:6379", "redis://[fd00::7]:6379", "rediss://cache.example:6380", "redis://localhost.example"] {
            assert!(!store_of(url), "{url}");
        }
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        let shown = |url: &str| super::shown(url).to_string();
        assert_eq!(shown("redis://marquee:s3cr%40t@cache:6379/2"), "redis://marquee:***@cache:6379/2");
        assert_eq!(shown("rediss://:s3cret@cache"), "rediss://:***@cache");
        assert_eq!(shown("redis+unix:///run/redis.sock?user=marquee&pass=s3cret&db=1"), "redis+unix:///run/redis.sock?user=marquee&pass=***&db=1");
        for kept in ["redis://cache:6379", "redis://marquee@cache", "unix:///run/redis.sock"] {
            assert_eq!(shown(kept), kept);
        }
    }
}
