//! Rate buckets in this process's memory, for a platform no other process shares.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use marquee_store::{BoxFuture, RateBuckets};

/// Buckets in this process's memory (`governor`), one keyed limiter per limit.
#[derive(Default)]
pub struct LocalBuckets {
    limiters: RwLock<HashMap<String, Arc<DefaultKeyedRateLimiter<String>>>>,
    clock: DefaultClock,
}

impl LocalBuckets {
    fn limiter(&self, limit: &str, count: u32, period: Duration) -> Option<Arc<DefaultKeyedRateLimiter<String>>> {
        if let Some(found) = self.limiters.read().unwrap_or_else(|e| e.into_inner()).get(limit) {
            return Some(found.clone());
        }
        let count = NonZeroU32::new(count)?;
        let quota = Quota::with_period(period / count.get())?.allow_burst(count);
        let mut limiters = self.limiters.write().unwrap_or_else(|e| e.into_inner());
        Some(limiters.entry(limit.to_string()).or_insert_with(|| Arc::new(DefaultKeyedRateLimiter::keyed(quota))).clone())
    }
}

impl RateBuckets for LocalBuckets {
    fn take<'a>(&'a self, limit: &'a str, key: &'a str, count: u32, period: Duration) -> BoxFuture<'a, Result<(), Duration>> {
        let taken = match self.limiter(limit, count, period) {
            Some(limiter) => limiter.check_key(&key.to_string()).map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => Ok(()),
        };
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn shrink(&self) {
        for limiter in self.limiters.read().unwrap_or_else(|e| e.into_inner()).values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_buckets_pass_the_rate_bucket_conformance_suite() {
        marquee_store::conformance::rate_buckets(&super::LocalBuckets::default()).await;
    }
}
