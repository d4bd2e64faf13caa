//! Payments behind one trait, so a real provider can replace the built-in test provider.
//! A provider is a network call away: both of its calls are async and may fail, and a refund
//! that fails waits in the store's `refunds` queue, retried by any control plane until it goes
//! through: shown on the desk and on `/metrics` meanwhile, and never lost to a restart.

use std::sync::Arc;
use std::time::Duration;

use marquee_store::clock::now_ms;
use marquee_store::{BoxFuture, Delivery, Outbox};
use prometheus::{IntCounter, IntGauge};
use serde::{Deserialize, Serialize};

use crate::queue::{FIRST_RETRY, Worker};

/// What a provider answers to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Paid.
    Approved {
        /// The provider's id of the charge, which a refund names.
        charge_id: String,
    },
    /// Not paid.
    Declined {
        /// The provider's reason, for the buyer.
        reason: String,
    },
}

/// A payment provider. Charges are keyed by a reference (the hold id), so a retried confirm
/// never charges twice; refunds by their charge, so a retried refund never refunds twice.
pub trait PaymentProvider: Send + Sync {
    /// Charges `amount` minor units described by `payment` (provider-specific JSON). An error:
    /// the provider could not be asked or did not answer.
    fn charge<'a>(&'a self, reference: &'a str, amount: u64, payment: &'a str) -> BoxFuture<'a, Charge>;
    /// Refunds `amount` minor units of a charge. An error: it may not have happened.
    fn refund<'a>(&'a self, charge_id: &'a str, amount: u64) -> BoxFuture<'a, ()>;
}

/// The outbox queue of refunds the provider failed.
pub const REFUNDS: &str = "refunds";
/// Longest a provider's refund call may take before its queued retry may be tried again.
const REFUND_LEASE: Duration = Duration::from_secs(60);

/// A refund the provider failed, as its queue keeps it.
#[derive(Serialize, Deserialize)]
struct Payback {
    /// `payment_refund`, so a list of a performance's outbox names it.
    kind: String,
    order: String,
    charge_id: String,
    amount: u64,
}

/// The platform's side of a provider: charges as they are, refunds that are never lost to
/// a provider's bad moment.
pub struct Payments {
    provider: Arc<dyn PaymentProvider>,
    outbox: Arc<dyn Outbox>,
    /// Refunds waiting in the queue, as the last look of this process's worker found them.
    pending: IntGauge,
    failures: IntCounter,
}

impl Payments {
    /// The platform's side of `provider`, queueing failed refunds in `outbox`; `pending` shows
    /// how many wait, `failures` counts failed tries.
    pub fn new(provider: Arc<dyn PaymentProvider>, outbox: Arc<dyn Outbox>, pending: IntGauge, failures: IntCounter) -> Arc<Self> {
        Arc::new(Self { provider, outbox, pending, failures })
    }

    /// Charges `amount` minor units of a payment (see [`PaymentProvider::charge`]).
    pub async fn charge(&self, reference: &str, amount: u64, payment: &str) -> anyhow::Result<Charge> {
        self.provider.charge(reference, amount, payment).await
    }

    /// Refunds `amount` of `order`'s charge now if the provider answers, else queues it in the
    /// store, under `key` (unique per refund of an order) and `scope` (its deployment), for
    /// [`Payments::work`] to retry with backoff until it goes through.
    pub async fn refund(&self, key: &str, scope: &str, order: &str, charge_id: &str, amount: u64) {
        let Err(e) = self.provider.refund(charge_id, amount).await else { return };
        self.failed(charge_id, &e);
        let payback = Payback { kind: "payment_refund".into(), order: order.into(), charge_id: charge_id.into(), amount };
        let Ok(body) = serde_json::to_string(&payback) else { return };
        let now = now_ms();
        let retry_at = now + FIRST_RETRY.as_millis() as u64;
        if let Err(e) = self.outbox.put(REFUNDS, &format!("payback/{key}"), scope, &body, now, retry_at).await {
            tracing::error!(charge_id, amount, order, error = format!("{e:#}"), "a failed refund could not be queued: refund it by hand");
        }
    }

    /// Retries the queued refunds, for as long as the process runs; any number of processes
    /// may, each refund is leased to one.
    pub async fn work(&self) {
        let worker = Worker { outbox: &*self.outbox, queue: REFUNDS, lease: REFUND_LEASE, batch: 16 };
        let each = |payback: Payback, _tries| async move {
            match self.provider.refund(&payback.charge_id, payback.amount).await {
                Ok(()) => {
                    tracing::info!(charge_id = payback.charge_id, amount = payback.amount, "a refund that had failed went through");
                    Ok(Delivery::Sent)
                }
                Err(e) => {
                    self.failed(&payback.charge_id, &e);
                    Err(e)
                }
            }
        };
        let count = || async move {
            match self.outbox.queued(REFUNDS).await {
            Ok(waiting) => self.pending.set(waiting as i64),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "could not count the queued refunds"),
            }
        };
        worker.run(each, count).await;
    }

    fn failed(&self, charge_id: &str, e: &anyhow::Error) {
        self.failures.inc();
        tracing::error!(charge_id, error = format!("{e:#}"), "a refund failed; it is retried until it goes through");
    }
}

/// Approves or declines by card number, like the test cards of real providers:
/// `4242 4242 4242 4242` approves, `4000 0000 0000 0002` declines, anything else that is not a
/// 12-19 digit number is declined as invalid. A zero amount needs no card. It keeps nothing:
/// a charge's id is derived from its reference, so charging a reference again with the same
/// card is the same charge, never a second one, however many charges a process has made.
pub struct TestProvider;

#[derive(Deserialize)]
struct TestPayment {
    #[serde(default)]
    card: String,
}

const DECLINING_CARD: &str = "4000000000000002";

impl TestProvider {
    fn decide(reference: &str, amount: u64, payment: &str) -> Charge {
        let card: String = serde_json::from_str::<TestPayment>(payment)
            .map(|p| p.card.chars().filter(|c| !c.is_whitespace() && *c != '-').collect())
            .unwrap_or_default();
        if amount == 0 {
            Charge::Approved { charge_id: format!("ch_free_{reference}") }
        } else if !(12..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) {
            Charge::Declined { reason: "invalid card number".into() }
        } else if card == DECLINING_CARD {
            Charge::Declined { reason: "card declined".into() }
        } else {
            Charge::Approved { charge_id: format!("ch_test_{reference}") }
        }
    }
}

impl PaymentProvider for TestProvider {
    fn charge<'a>(&'a self, reference: &'a str, amount: u64, payment: &'a str) -> BoxFuture<'a, Charge> {
        Box::pin(std::future::ready(Ok(Self::decide(reference, amount, payment))))
    }

    fn refund<'a>(&'a self, charge_id: &'a str, amount: u64) -> BoxFuture<'a, ()> {
        tracing::info!(charge_id, amount, "test provider refunded");
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn payments(provider: Arc<dyn PaymentProvider>) -> (marquee_store_embedded::TestDir, Arc<Payments>) {
        let dir = marquee_store_embedded::TestDir::new("payments");
        let outbox = marquee_store_embedded::open(&dir.0).unwrap().outbox;
        let pending = IntGauge::new("pending", "pending").unwrap();
        (dir, Payments::new(provider, outbox, pending, IntCounter::new("failures", "failures").unwrap()))
    }

    #[tokio::test]
    async fn approves_declines_and_is_idempotent() {
        let (_dir, p) = payments(Arc::new(TestProvider));
        let card = r#"{"card":"4242 4242 4242 4242"}"#;
        let charge = async |reference, amount, payment| p.charge(reference, amount, payment).await.unwrap();
        assert!(matches!(charge("h1", 100, card).await, Charge::Approved { .. }));
        assert_eq!(charge("h1", 100, card).await, charge("h1", 100, card).await, "a retried charge is the same charge");
        assert_ne!(charge("h1", 100, card).await, charge("h5", 100, card).await);
        assert!(matches!(charge("h2", 100, r#"{"card":"4000000000000002"}"#).await, Charge::Declined { .. }));
        assert!(matches!(charge("h3", 100, "{}").await, Charge::Declined { .. }));
        assert!(matches!(charge("h4", 0, "{}").await, Charge::Approved { .. }));
        // A declined buyer may try another card on the same hold.
        assert!(matches!(charge("h2", 100, card).await, Charge::Approved { .. }));
    }

    /// Fails the first `failing` refunds, then records each refund it makes.
    struct Flaky {
        failing: Mutex<u32>,
        refunded: Mutex<Vec<(String, u64)>>,
    }

    impl PaymentProvider for Flaky {
        fn charge<'a>(&'a self, _: &'a str, _: u64, _: &'a str) -> BoxFuture<'a, Charge> {
            Box::pin(async { anyhow::bail!("unreachable") })
        }

        fn refund<'a>(&'a self, charge_id: &'a str, amount: u64) -> BoxFuture<'a, ()> {
            Box::pin(async move {
                let mut failing = self.failing.lock().unwrap();
                if *failing > 0 {
                    *failing -= 1;
                    anyhow::bail!("the provider timed out");
                }
                self.refunded.lock().unwrap().push((charge_id.to_owned(), amount));
                Ok(())
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_refund_waits_in_the_store_and_is_retried_until_it_goes_through() {
        let flaky = Arc::new(Flaky { failing: Mutex::new(2), refunded: Mutex::default() });
        let (_dir, p) = payments(flaky.clone());
        assert!(p.charge("h1", 100, "{}").await.is_err(), "a provider that does not answer is an error, not a decline");
        p.refund("refund/o1/0", "d1", "o1", "ch_1", 2500).await;
        let queued = p.outbox.recent("d1", 10).await.unwrap();
        assert_eq!((queued.len(), queued[0].queue.as_str(), queued[0].id.as_str()), (1, REFUNDS, "payback/refund/o1/0"));
        assert!(queued[0].body.contains("\"kind\":\"payment_refund\"") && queued[0].body.contains("\"order\":\"o1\""), "{}", queued[0].body);
        assert_eq!(p.failures.get(), 1);
        assert!(flaky.refunded.lock().unwrap().is_empty());
        // The worker retries it after 1 s (fails) and 2 s more (goes through).
        let worker = tokio::spawn({
            let p = p.clone();
            async move { p.work().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(p.pending.get(), 1, "shown while it waits");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while flaky.refunded.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the refund never went through");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(*flaky.refunded.lock().unwrap(), [("ch_1".to_string(), 2500)], "refunded once, in full");
        assert_eq!(p.failures.get(), 2);
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(p.pending.get(), 0);
        let settled = &p.outbox.recent("d1", 10).await.unwrap()[0];
        assert_eq!((settled.state, settled.attempts, settled.last_error.as_deref()), (Delivery::Sent, 2, Some("the provider timed out")));
        p.refund("refund/o2/0", "d1", "o2", "ch_2", 100).await;
        assert_eq!((p.outbox.recent("d1", 10).await.unwrap().len(), flaky.refunded.lock().unwrap().len()), (1, 2), "a refund the provider takes is done at once");
        worker.abort();
    }
}
