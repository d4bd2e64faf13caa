//! Payments behind one trait, so a real provider can replace the built-in test provider.
//! A provider is a network call away: both of its calls are async and may fail, and a refund
//! that fails is retried until it goes through, visible on `/metrics` while it waits.

use std::sync::Arc;
use std::time::Duration;

use marquee_store::BoxFuture;
use prometheus::{IntCounter, IntGauge};
use serde::Deserialize;

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

/// The first wait before a failed refund is tried again; each failure doubles it.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);

/// The platform's side of a provider: charges as they are, refunds that are never lost to
/// a provider's bad moment.
pub struct Payments {
    provider: Arc<dyn PaymentProvider>,
    /// Refunds failed at least once and not yet through.
    pending: IntGauge,
    failures: IntCounter,
}

impl Payments {
    /// The platform's side of `provider`, counting pending refunds in `pending` and failed tries in `failures`.
    pub fn new(provider: Arc<dyn PaymentProvider>, pending: IntGauge, failures: IntCounter) -> Arc<Self> {
        Arc::new(Self { provider, pending, failures })
    }

    /// Charges `amount` minor units of a payment (see [`PaymentProvider::charge`]).
    pub async fn charge(&self, reference: &str, amount: u64, payment: &str) -> anyhow::Result<Charge> {
        self.provider.charge(reference, amount, payment).await
    }

    /// Refunds now if the provider answers, else in the background, retried with backoff
    /// until it does.
    pub async fn refund(self: &Arc<Self>, charge_id: &str, amount: u64) {
        let Err(e) = self.provider.refund(charge_id, amount).await else { return };
        self.failed(charge_id, &e);
        self.pending.inc();
        let (this, charge_id) = (self.clone(), charge_id.to_owned());
        tokio::spawn(async move {
            let mut wait = FIRST_RETRY;
            loop {
                tokio::time::sleep(wait).await;
                match this.provider.refund(&charge_id, amount).await {
                    Ok(()) => {
                        tracing::info!(charge_id, amount, "a refund that had failed went through");
                        this.pending.dec();
                        return;
                    }
                    Err(e) => this.failed(&charge_id, &e),
                }
                wait = (wait * 2).min(LONGEST_RETRY);
            }
        });
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

    fn payments(provider: Arc<dyn PaymentProvider>) -> Arc<Payments> {
        let pending = IntGauge::new("pending", "pending").unwrap();
        Payments::new(provider, pending, IntCounter::new("failures", "failures").unwrap())
    }

    #[tokio::test]
    async fn approves_declines_and_is_idempotent() {
        let p = payments(Arc::new(TestProvider));
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

    #[tokio::test(start_paused = true)]
    async fn a_failed_refund_is_retried_until_it_goes_through_and_shown_meanwhile() {
        let flaky = Arc::new(Flaky { failing: Mutex::new(4), refunded: Mutex::default() });
        let p = payments(flaky.clone());
        assert!(p.charge("h1", 100, "{}").await.is_err(), "a provider that does not answer is an error, not a decline");
        p.refund("ch_1", 2500).await;
        assert_eq!((p.pending.get(), p.failures.get()), (1, 1), "pending and counted");
        assert!(flaky.refunded.lock().unwrap().is_empty());
        // Retried after 1, 2, 4 and 8 s; the fourth retry goes through.
        tokio::time::sleep(Duration::from_secs(14)).await;
        assert_eq!(p.failures.get(), 4);
        assert_eq!(p.pending.get(), 1, "still pending before the fourth retry");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(*flaky.refunded.lock().unwrap(), [("ch_1".to_string(), 2500)], "refunded once, in full");
        assert_eq!(p.pending.get(), 0);
        p.refund("ch_2", 100).await;
        assert_eq!((p.pending.get(), flaky.refunded.lock().unwrap().len()), (0, 2), "a refund the provider takes is done at once");
    }
}
