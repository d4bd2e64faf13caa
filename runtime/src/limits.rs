//! Rate limits on the calls bots and credential stuffers hammer: sign-up and log-in per client
//! address (and log-in per account), holds per client address and per buyer. Token buckets
//! (GCRA, the `governor` crate); an exceeded limit answers 429 with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

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

pub struct RateLimits {
    limiters: [Option<DefaultKeyedRateLimiter<String>>; 6],
    clock: DefaultClock,
    /// Live performances per seller; 0: no cap.
    pub performances_per_seller: u32,
}

fn limiter(count: u32, per: Duration) -> Option<DefaultKeyedRateLimiter<String>> {
    let count = NonZeroU32::new(count)?;
    let quota = Quota::with_period(per / count.get())?.allow_burst(count);
    Some(DefaultKeyedRateLimiter::keyed(quota))
}

impl RateLimits {
    pub fn new(rates: Rates) -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        const SECOND: Duration = Duration::from_secs(1);
        Self {
            limiters: [
                limiter(rates.signup_per_minute, MINUTE),
                limiter(rates.login_per_minute, MINUTE),
                limiter(rates.login_per_account_per_minute, MINUTE),
                limiter(rates.holds_per_second, SECOND),
                limiter(rates.holds_per_buyer_per_second, SECOND),
                limiter(rates.deploys_per_seller_per_minute, MINUTE),
            ],
            clock: DefaultClock::default(),
            performances_per_seller: rates.performances_per_seller,
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self::new(Rates {
            signup_per_minute: 0,
            login_per_minute: 0,
            login_per_account_per_minute: 0,
            holds_per_second: 0,
            holds_per_buyer_per_second: 0,
            held_seats_per_address: 0,
            deploys_per_seller_per_minute: 0,
            performances_per_seller: 0,
        })
    }

    /// Takes one token from `key`'s bucket, or says how long until one is free.
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiters[limit as usize] else { return Ok(()) };
        limiter.check_key(&key.to_string()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Checks a client address.
    pub fn check_address(&self, limit: Limit, address: Option<IpAddr>) -> Result<(), Duration> {
        match address {
            Some(ip) => self.check(limit, &ip.to_string()),
            None => Ok(()),
        }
    }

    /// Forgets buckets that are full again, so memory stays bounded by recent clients.
    pub fn shrink(&self) {
        for limiter in self.limiters.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_wait() {
        let limits = RateLimits::new(Rates {
            signup_per_minute: 3,
            login_per_minute: 0,
            login_per_account_per_minute: 0,
            holds_per_second: 0,
            holds_per_buyer_per_second: 0,
            held_seats_per_address: 0,
            deploys_per_seller_per_minute: 0,
            performances_per_seller: 0,
        });
        for _ in 0..3 {
            limits.check(Limit::SignupByAddress, "1.2.3.4").unwrap();
        }
        let wait = limits.check(Limit::SignupByAddress, "1.2.3.4").unwrap_err();
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20), "{wait:?}");
        // Other keys and other limits are untouched; a 0 rate is no limit.
        limits.check(Limit::SignupByAddress, "5.6.7.8").unwrap();
        for _ in 0..100 {
            limits.check(Limit::LoginByAddress, "1.2.3.4").unwrap();
        }
    }
}
