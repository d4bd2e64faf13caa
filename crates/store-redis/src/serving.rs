//! Which runtime processes serve which performance, as each reports it: the operator's `Ready`
//! means a live process serves the current spec, not that objects exist. A report lapses by the
//! server's clock, so a killed runtime drops out within seconds.

use std::sync::LazyLock;

use anyhow::Result;

use crate::{Answered, RedisStore};

/// How long a report counts; runtimes report far more often.
pub const SERVING_TTL_SECONDS: u64 = 10;

fn serving_key(namespace: &str) -> String {
    format!("{{dir}}:serving:{namespace}")
}

/// KEYS: one per performance; ARGV: process, ttl, then one digest per key.
const REPORT: &str = r"
local expires = tonumber(redis.call('TIME')[1]) + tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 2] .. ' ' .. expires)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2]) * 2)
end
";

/// KEYS: the performance; ARGV: the digest. Lapsed reports are dropped on the way.
const SERVERS: &str = r"
local now = tonumber(redis.call('TIME')[1])
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local digest, expires = string.match(all[i + 1], '^(%S+) (%d+)$')
  if not expires or tonumber(expires) < now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif digest == ARGV[1] then
    table.insert(out, all[i])
  end
end
return out
";

static REPORT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(REPORT));
static SERVERS_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SERVERS));

impl RedisStore {
    /// Reports that `process` serves each (performance, digest of its record).
    pub async fn report_serving(&self, process: &str, served: &[(String, String)]) -> Result<()> {
        if served.is_empty() {
            return Ok(());
        }
        let mut invocation = REPORT_SCRIPT.prepare_invoke();
        invocation.arg(process).arg(SERVING_TTL_SECONDS);
        for (namespace, digest) in served {
            invocation.key(serving_key(namespace)).arg(digest);
        }
        let mut connection = self.connection.clone();
        invocation.invoke_async::<()>(&mut connection).await.answered("Redis serving report failed")
    }

    /// The processes whose last report, still current, says they serve `digest` of the performance.
    pub async fn serving(&self, namespace: &str, digest: &str) -> Result<Vec<String>> {
        let mut connection = self.connection.clone();
        let mut processes: Vec<String> = SERVERS_SCRIPT
            .key(serving_key(namespace))
            .arg(digest)
            .invoke_async(&mut connection)
            .await
            .answered("Redis serving read failed")?;
        processes.sort();
        Ok(processes)
    }
}
