//! The outbox on Redis, shared by every process of a store: one script (`outbox.lua`), so a
//! claim leases each message to one caller. Every key is under the hash tag `{out}`.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use marquee_store::{BoxFuture, Delivery, Message, Outbox};
use redis::FromRedisValue;

use crate::{Answered, RedisStore};

const PREFIX: &str = "{out}";

impl RedisStore {
    async fn outbox_step<T: FromRedisValue>(&self, op: &str, args: &[&str]) -> Result<T> {
        self.step(&self.outbox, PREFIX, "outbox", op, args).await
    }

    /// Messages answered as id, fields, id, fields, ...
    async fn outbox_messages(&self, op: &str, args: &[&str]) -> Result<Vec<Message>> {
        let flat: Vec<redis::Value> = self.outbox_step(op, args).await?;
        flat.chunks(2)
            .map(|pair| {
                let id = String::from_redis_value(pair[0].clone())?;
                let fields = HashMap::<String, String>::from_redis_value(pair.get(1).cloned().unwrap_or(redis::Value::Nil))?;
                message(id, &fields)
            })
            .collect()
    }
}

pub(crate) fn message(id: String, fields: &HashMap<String, String>) -> Result<Message> {
    let field = |name: &str| fields.get(name).cloned().ok_or_else(|| anyhow!("a stored message lacks {name}"));
    let number = |name: &str| -> Result<u64> { field(name)?.parse().with_context(|| format!("a stored message's {name}")) };
    Ok(Message {
        queue: field("queue")?,
        scope: field("scope")?,
        body: field("body")?,
        created_at: number("created_at")?,
        due_at: number("due_at")?,
        attempts: number("attempts")? as u32,
        last_error: fields.get("last_error").cloned(),
        state: Delivery::parse(&field("state")?).ok_or_else(|| anyhow!("a stored message's state"))?,
        id,
    })
}

impl Outbox for RedisStore {
    fn put<'a>(&'a self, queue: &'a str, id: &'a str, scope: &'a str, body: &'a str, now: u64, due_at: u64) -> BoxFuture<'a, bool> {
        Box::pin(async move { Ok(self.outbox_step::<i64>("put", &[queue, id, scope, body, &now.to_string(), &due_at.to_string()]).await? == 1) })
    }

    fn claim<'a>(&'a self, queue: &'a str, now: u64, lease_ms: u64, limit: usize) -> BoxFuture<'a, Vec<Message>> {
        Box::pin(async move { self.outbox_messages("claim", &[queue, &now.to_string(), &(now + lease_ms).to_string(), &limit.to_string()]).await })
    }

    fn settle<'a>(&'a self, id: &'a str, state: Delivery, at: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.outbox_step::<i64>("settle", &[id, state.as_str(), &at.to_string()]).await.map(drop) })
    }

    fn retry<'a>(&'a self, id: &'a str, error: &'a str, retry_at: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.outbox_step::<i64>("retry", &[id, error, &retry_at.to_string()]).await.map(drop) })
    }

    fn queued<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, u64> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("ZCARD").arg(format!("{PREFIX}:due:{queue}")).query_async(&mut connection).await.answered("Redis ZCARD failed")
        })
    }

    fn prune(&self, before: u64, limit: usize) -> BoxFuture<'_, u64> {
        Box::pin(async move { self.outbox_step("prune", &[&before.to_string(), &limit.to_string()]).await })
    }

    fn recent<'a>(&'a self, scope: &'a str, limit: usize) -> BoxFuture<'a, Vec<Message>> {
        Box::pin(async move { self.outbox_messages("recent", &[scope, &limit.to_string()]).await })
    }
}
