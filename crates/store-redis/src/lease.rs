//! The control plane's lease: one control plane serves a store at a time. Much of what a
//! control plane keeps (templates, uploads, check-ins) still lives in its own data dir, so a
//! second one on the same Redis would sell seats the first one's buyers hold and publish a
//! directory of its own; it refuses to start instead. The lease lapses by the server's clock
//! when its holder stops renewing it (killed, cut off), so another may take over.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::RedisStore;

/// How long a lease lasts unrenewed; its holder renews it every third of that.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

const LEASE: &str = "{dir}:control-lease";

/// ARGV: holder, ttl ms, the holder's control plane (`<id>/`). Takes a free lease, renews the
/// holder's own, or takes over from an earlier run of the same control plane; answers the
/// holder.
const TAKE: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] or string.sub(holder, 1, #ARGV[3]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder
";

/// ARGV: holder. Gives the lease up if it is still the holder's.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

static TAKE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE));
static RELEASE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE));

impl RedisStore {
    /// Takes (or, for its holder, renews) the control plane's lease for `holder`, a run of
    /// the control plane `control` (one data dir, whose lock proves an earlier run of it is
    /// gone): `Ok(())`, or `Err` with the holder that has it.
    pub async fn take_lease(&self, control: &str, holder: &str) -> Result<Result<(), String>> {
        let mut connection = self.connection.clone();
        let ttl_ms = LEASE_TTL.as_millis() as u64;
        let holder = format!("{control}/{holder}");
        let current: String = TAKE_SCRIPT
            .key(LEASE)
            .arg(&holder)
            .arg(ttl_ms)
            .arg(format!("{control}/"))
            .invoke_async(&mut connection)
            .await
            .context("Redis lease step failed")?;
        Ok(if current == holder { Ok(()) } else { Err(current) })
    }

    /// Gives the lease up (a clean stop), so the next control plane need not wait for it to lapse.
    pub async fn release_lease(&self, control: &str, holder: &str) -> Result<()> {
        let mut connection = self.connection.clone();
        RELEASE_SCRIPT.key(LEASE).arg(format!("{control}/{holder}")).invoke_async::<i64>(&mut connection).await.context("Redis lease release failed")?;
        Ok(())
    }
}
