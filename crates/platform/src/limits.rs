//! Rate limits on the calls bots and credential stuffers hammer: sign-up and log-in per client
//! address (and log-in per account), holds per client address and per buyer. Token buckets
//! (GCRA) behind the `RateBuckets` store trait: in this process's memory (`governor`), or in
//! a store every process shares, so a limit holds whichever process a call reaches. An
//! exceeded limit answers 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use marquee_store::{BoxFuture, RateBuckets};

/// The address of the client at the other end of the connection, which the server puts on
/// every request and per-address limits key on.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Requests allowed per period; a burst of the same size is allowed at once. 0 means no limit.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub signup_per_minute: u32,
    pub login_per_minute: u32,
    pub login_per_account_per_minute: u32,
    pub holds_per_second: u32,
    pub holds_per_buyer_per_second: u32,
    /// Seats or units one client address may hold unpaid in a session, over all its accounts
    /// (enforced by the inventory, not by a bucket).
    pub held_seats_per_address: u32,
    pub deploys_per_seller_per_minute: u32,
    /// Live performances one seller may have (a count, not a bucket; admins have no cap).
    pub performances_per_seller: u32,
}

/// What a limit applies to.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    SignupByAddress,
    LoginByAddress,
    LoginByAccount,
    HoldByAddress,
    HoldByBuyer,
    DeployBySeller,
}

impl Limit {
    /// The bucket's name in a shared store.
    fn name(self) -> &'static str {
        match self {
            Limit::SignupByAddress => "signup-address",
            Limit::LoginByAddress => "login-address",
            Limit::LoginByAccount => "login-account",
            Limit::HoldByAddress => "hold-address",
            Limit::HoldByBuyer => "hold-buyer",
            Limit::DeployBySeller => "deploy-seller",
        }
    }
}

/// How long a caller is asked to wait when the bucket store cannot answer.
const STORE_DOWN_WAIT: Duration = Duration::from_secs(1);

/// The platform's limits, kept in a [`RateBuckets`] store (this process's memory, or one that
/// every process shares).
pub struct RateLimits {
    /// Per limit: calls per period, or `None` for no limit.
    quotas: [Option<(u32, Duration)>; 6],
    buckets: Arc<dyn RateBuckets>,
    /// Live performances per seller; 0: no cap.
    pub performances_per_seller: u32,
}

impl RateLimits {
    pub fn new(rates: Rates, buckets: Arc<dyn RateBuckets>) -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        const SECOND: Duration = Duration::from_secs(1);
        let quota = |count: u32, per: Duration| (count > 0).then_some((count, per));
        Self {
            quotas: [
                quota(rates.signup_per_minute, MINUTE),
                quota(rates.login_per_minute, MINUTE),
                quota(rates.login_per_account_per_minute, MINUTE),
                quota(rates.holds_per_second, SECOND),
                quota(rates.holds_per_buyer_per_second, SECOND),
                quota(rates.deploys_per_seller_per_minute, MINUTE),
            ],
            buckets,
            performances_per_seller: rates.performances_per_seller,
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self { quotas: [None; 6], buckets: Arc::new(LocalBuckets::default()), performances_per_seller: 0 }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is free. A store that
    /// cannot answer refuses for a second (logged): a guarded call is never let through
    /// unguarded.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let Some((count, period)) = self.quotas[limit as usize] else { return Ok(()) };
        match self.buckets.take(limit.name(), key, count, period).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "rate-limit store unavailable; call refused");
                Err(STORE_DOWN_WAIT)
            }
        }
    }

    /// Checks a client address.
    pub async fn check_address(&self, limit: Limit, address: Option<IpAddr>) -> Result<(), Duration> {
        match address {
            Some(ip) => self.check(limit, &ip.to_string()).await,
            None => Ok(()),
        }
    }

    /// Forgets buckets that are full again, so memory stays bounded by recent clients.
    pub fn shrink(&self) {
        self.buckets.shrink();
    }
}

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
    use super::*;

    #[tokio::test]
    async fn local_buckets_pass_the_rate_bucket_conformance_suite() {
        marquee_store::conformance::rate_buckets(&LocalBuckets::default()).await;
    }
}
