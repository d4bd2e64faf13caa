//! Rate limits on the calls bots and credential stuffers hammer: sign-up and log-in per client
//! address (and log-in per account), holds per client address and per buyer. Token buckets
//! (GCRA) behind the `RateBuckets` store trait: in this process's memory (`governor`), or in
//! a store every process shares, so a limit holds whichever process a call reaches. An
//! exceeded limit answers 429 with `Retry-After`. A client is its address as the connection
//! shows it, or as trusted proxies forward it ([`TrustedProxies`]); IPv6 clients are grouped
//! by /64, the block one subscriber gets.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use marquee_store::RateBuckets;

/// The address of the client, which the server puts on every request and per-address limits
/// key on: the connection's peer, or the client a trusted proxy forwarded for.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The proxies (a Gateway's, a load balancer's) whose `X-Forwarded-For` / `Forwarded`
/// headers name the real client. Nobody else's are read: anyone can send the headers.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a connection from `peer`: walking the forwarded chain from the
    /// nearest hop, the first address that is not a trusted proxy. A chain that cannot be
    /// read stops the walk at the last hop that could.
    pub fn client(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("forwarded") {
            let Ok(text) = value.to_str() else { return peer };
            for element in text.split(',') {
                // RFC 7239: parameter names are case-insensitive; `[v6]:port`, `v4:port`.
                let for_ = element.split(';').find_map(|pair| pair.trim().split_once('=').filter(|(name, _)| name.eq_ignore_ascii_case("for")));
                let Some((_, node)) = for_ else { continue };
                let node = node.trim_matches('"');
                add_hop(&mut hops, node.strip_prefix('[').and_then(|n| n.split_once(']')).map_or_else(|| node.split(':').next().unwrap_or(""), |(h, _)| h));
            }
        }
        if hops.is_empty() {
            for value in headers.get_all("x-forwarded-for") {
                let Ok(text) = value.to_str() else { return peer };
                text.split(',').for_each(|h| add_hop(&mut hops, h.trim()));
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// Adds a forwarded hop; one that is not an address stops the walk there, since what came
/// before it is unknown.
fn add_hop(hops: &mut Vec<IpAddr>, text: &str) {
    match text.parse() {
        Ok(ip) => hops.push(ip),
        Err(_) => hops.clear(),
    }
}

/// The key a client's limits share: its address, or for IPv6 its /64.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Requests allowed per period; a burst of the same size is allowed at once. 0 means no limit.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Sign-ups per client address.
    pub signup_per_minute: u32,
    /// Log-in attempts per client address.
    pub login_per_minute: u32,
    /// Credential checks of one account from one client.
    pub login_per_account_per_minute: u32,
    /// Credential checks of one account from anywhere.
    pub login_per_account_per_hour: u32,
    /// Holds per client address.
    pub holds_per_second: u32,
    /// Holds per buyer.
    pub holds_per_buyer_per_second: u32,
    /// Seats or units one client address may hold unpaid in a session, over all its accounts
    /// (enforced by the inventory, not by a bucket).
    pub held_seats_per_address: u32,
    /// Deploys per seller.
    pub deploys_per_seller_per_minute: u32,
    /// Live performances one seller may have (a count, not a bucket; admins have no cap).
    pub performances_per_seller: u32,
}

/// What a limit applies to.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// Sign-ups from one address.
    SignupByAddress,
    /// Log-in attempts from one address.
    LoginByAddress,
    /// Credential checks of one account from one client.
    LoginByAccountAddress,
    /// Credential checks of one account from anywhere: slower, and past it an address that
    /// has not tried the account lately still gets one try ([`Limit::LoginFromNewAddress`]).
    LoginByAccount,
    /// One try at an account for an address that has not tried it lately.
    LoginFromNewAddress,
    /// Holds from one address.
    HoldByAddress,
    /// Holds of one buyer.
    HoldByBuyer,
    /// Deploys of one seller.
    DeployBySeller,
}

/// Every limit, in the order of [`RateLimits`]'s quotas.
const LIMITS: usize = 8;

impl Limit {
    /// The bucket's name in a shared store.
    fn name(self) -> &'static str {
        match self {
            Limit::SignupByAddress => "signup-address",
            Limit::LoginByAddress => "login-address",
            Limit::LoginByAccountAddress => "login-account-address",
            Limit::LoginByAccount => "login-account",
            Limit::LoginFromNewAddress => "login-new-address",
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
    quotas: [Option<(u32, Duration)>; LIMITS],
    /// `None` with no quotas.
    buckets: Option<Arc<dyn RateBuckets>>,
    /// Live performances per seller; 0: no cap.
    pub performances_per_seller: u32,
}

impl RateLimits {
    /// Quotas at `rates`, their buckets in `buckets`.
    pub fn new(rates: Rates, buckets: Arc<dyn RateBuckets>) -> Self {
        const HOUR: Duration = Duration::from_secs(3600);
        const MINUTE: Duration = Duration::from_secs(60);
        const SECOND: Duration = Duration::from_secs(1);
        let quota = |count: u32, per: Duration| (count > 0).then_some((count, per));
        Self {
            quotas: [
                quota(rates.signup_per_minute, MINUTE),
                quota(rates.login_per_minute, MINUTE),
                quota(rates.login_per_account_per_minute, MINUTE),
                quota(rates.login_per_account_per_hour, HOUR),
                quota(rates.login_per_account_per_hour.min(1), HOUR),
                quota(rates.holds_per_second, SECOND),
                quota(rates.holds_per_buyer_per_second, SECOND),
                quota(rates.deploys_per_seller_per_minute, MINUTE),
            ],
            buckets: Some(buckets),
            performances_per_seller: rates.performances_per_seller,
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self { quotas: [None; LIMITS], buckets: None, performances_per_seller: 0 }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is free. A store that
    /// cannot answer refuses for a second (logged): a guarded call is never let through
    /// unguarded.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let (Some((count, period)), Some(buckets)) = (self.quotas[limit as usize], &self.buckets) else { return Ok(()) };
        match buckets.take(limit.name(), key, count, period).await {
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
            Some(ip) => self.check(limit, &client_key(ip)).await,
            None => Ok(()),
        }
    }

    /// May a credential of `account` (an email, lower case) be checked for this client now?
    /// Guessing stays bounded per client, per client and account, and per account; yet no
    /// one can lock the owner out: past the account's limit, a client that has not tried the
    /// account in the last hour still gets a try, so the owner's right password from their
    /// own address goes through while a stranger's guesses are refused.
    pub async fn check_login(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.check_address(Limit::LoginByAddress, address).await?;
        let client = address.map(client_key).unwrap_or_default();
        self.check(Limit::LoginByAccountAddress, &format!("{account}|{client}")).await?;
        match self.check(Limit::LoginByAccount, account).await {
            Ok(()) => Ok(()),
            Err(wait) => self.check(Limit::LoginFromNewAddress, &format!("{account}|{client}")).await.map_err(|_| wait),
        }
    }

    /// Forgets buckets that are full again, so memory stays bounded by recent clients.
    pub fn shrink(&self) {
        if let Some(buckets) = &self.buckets {
            buckets.shrink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs.iter().map(|(n, v)| (http::HeaderName::from_bytes(n.as_bytes()).unwrap(), http::HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn the_client_is_read_from_trusted_proxies_only() {
        let proxies = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = forwarded(&[("x-forwarded-for", "198.51.100.7, 10.1.2.3")]);
        // From a proxy: the nearest hop that is not one of ours.
        assert_eq!(proxies.client(ip("10.9.9.9"), &xff), ip("198.51.100.7"));
        // From anyone else: the headers are not read.
        assert_eq!(proxies.client(ip("203.0.113.1"), &xff), ip("203.0.113.1"));
        // A client cannot hide behind an address it prepends: the walk stops at the first
        // address that is not a proxy, from the nearest end.
        let spoofed = forwarded(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &spoofed), ip("198.51.100.7"));
        let standard = forwarded(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.5")]);
        assert_eq!(proxies.client(ip("10.0.0.6"), &standard), ip("2001:db8::1"));
        // Nothing readable: the proxy itself.
        assert_eq!(proxies.client(ip("10.0.0.6"), &forwarded(&[("x-forwarded-for", "garbage")])), ip("10.0.0.6"));
        assert_eq!(proxies.client(ip("10.0.0.6"), &http::HeaderMap::new()), ip("10.0.0.6"));
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
    }
}
