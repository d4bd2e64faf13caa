//! The directory of performances and component bytes on Redis. A write and its notice are
//! one `MULTI`, so a runtime that hears of a change always reads it.

use anyhow::Result;
use marquee_store::{BoxFuture, Directory, DirectoryEvent};
use redis::AsyncCommands;

use crate::{Answered, RedisStore};

/// Namespace -> record.
const PERFORMANCES: &str = "{dir}:performances";
/// The channel a change's namespace is published on.
const CHANNEL: &str = "marquee:directory";

/// How long a process's counters count after their last write: one that stopped writing
/// (stopped, killed) drops out of the sums.
const COUNTERS_TTL_SECONDS: i64 = 30;

fn counters_key(deployment: &str) -> String {
    format!("{{dir}}:counters:{deployment}")
}

fn component_key(digest: &str) -> String {
    format!("{{dir}}:component:{digest}")
}

impl RedisStore {
    /// Calls `on` for every change of a performance, and with `Resync` each time the
    /// subscription (re)starts, for as long as the task runs.
    pub fn watch_directory(&self, on: impl Fn(DirectoryEvent) + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        self.watch(CHANNEL, move |message| on(message.map_or(DirectoryEvent::Resync, DirectoryEvent::Changed)))
    }

    async fn change(&self, namespace: &str, write: impl FnOnce(&mut redis::Pipeline)) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        write(&mut pipe);
        pipe.publish(CHANNEL, namespace).ignore();
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection).await.answered("Redis directory write failed")
    }
}

impl RedisStore {
    /// A secret every process shares (the ticket signing key): the first process to ask
    /// stores its `candidate`, and every process gets the one stored.
    pub async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String> {
        let key = format!("{{dir}}:secret:{name}");
        let mut connection = self.connection.clone();
        let (_, stored): (Option<String>, String) = redis::pipe()
            .atomic()
            .cmd("SET").arg(&key).arg(candidate).arg("NX")
            .get(&key)
            .query_async(&mut connection)
            .await
            .answered("Redis shared secret failed")?;
        Ok(stored)
    }

    /// Writes this process's cumulative counters of a performance (`process` names this
    /// process's run; each value is the caller's encoding), for the control plane to sum.
    pub async fn put_counters(&self, deployment: &str, process: &str, counters: &[(String, String)]) -> Result<()> {
        let key = counters_key(deployment);
        let mut pipe = redis::pipe();
        for (name, value) in counters {
            pipe.hset(&key, format!("{process}/{name}"), value).ignore();
        }
        pipe.hset(&key, format!("{process}/"), crate::now_seconds()).ignore();
        pipe.expire(&key, COUNTERS_TTL_SECONDS).ignore();
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection).await.answered("Redis counters write failed")
    }

    /// Every other process's counters of a performance that wrote in the last 30 s:
    /// (process, name, value).
    pub async fn counters(&self, deployment: &str, except: &str) -> Result<Vec<(String, String, String)>> {
        let mut connection = self.connection.clone();
        let all: std::collections::HashMap<String, String> =
            connection.hgetall(counters_key(deployment)).await.answered("Redis HGETALL failed")?;
        let fresh = |process: &str| {
            all.get(&format!("{process}/")).and_then(|t| t.parse::<i64>().ok()).is_some_and(|t| crate::now_seconds() - t < COUNTERS_TTL_SECONDS)
        };
        Ok(all
            .iter()
            .filter_map(|(field, value)| {
                let (process, name) = field.split_once('/')?;
                (!name.is_empty() && process != except && fresh(process)).then(|| (process.to_string(), name.to_string(), value.clone()))
            })
            .collect())
    }
}

impl Directory for RedisStore {
    fn put_performance<'a>(&'a self, namespace: &'a str, record: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.change(namespace, move |pipe| {
            pipe.hset(PERFORMANCES, namespace, record).ignore();
        }))
    }

    fn remove_performance<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.change(namespace, move |pipe| {
            pipe.hdel(PERFORMANCES, namespace).ignore();
        }))
    }

    fn performance<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.hget(PERFORMANCES, namespace).await.answered("Redis HGET failed")
        })
    }

    fn performances(&self) -> BoxFuture<'_, Vec<(String, String)>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let all: std::collections::BTreeMap<String, String> =
                connection.hgetall(PERFORMANCES).await.answered("Redis HGETALL failed")?;
            Ok(all.into_iter().collect())
        })
    }

    fn put_component<'a>(&'a self, digest: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.set(component_key(digest), bytes).await.answered("Redis SET failed")
        })
    }

    fn component<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.get(component_key(digest)).await.answered("Redis GET failed")
        })
    }
}
