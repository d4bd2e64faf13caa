//! Payments behind one trait, so a real provider can replace the built-in test provider.

use serde::Deserialize;

/// What a provider answers to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    Approved { charge_id: String },
    Declined { reason: String },
}

/// A payment provider. Charges are keyed by a reference (the hold id), so a retried confirm
/// never charges twice.
pub trait PaymentProvider: Send + Sync {
    /// Charges `amount` minor units described by `payment` (provider-specific JSON).
    fn charge(&self, reference: &str, amount: u64, payment: &str) -> Charge;
    /// Refunds a charge in full.
    fn refund(&self, charge_id: &str);
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

impl PaymentProvider for TestProvider {
    fn charge(&self, reference: &str, amount: u64, payment: &str) -> Charge {
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

    fn refund(&self, charge_id: &str) {
        tracing::info!(charge_id, "test provider refunded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approves_declines_and_is_idempotent() {
        let p = TestProvider;
        let card = r#"{"card":"4242 4242 4242 4242"}"#;
        assert!(matches!(p.charge("h1", 100, card), Charge::Approved { .. }));
        assert_eq!(p.charge("h1", 100, card), p.charge("h1", 100, card), "a retried charge is the same charge");
        assert_ne!(p.charge("h1", 100, card), p.charge("h5", 100, card));
        assert!(matches!(p.charge("h2", 100, r#"{"card":"4000000000000002"}"#), Charge::Declined { .. }));
        assert!(matches!(p.charge("h3", 100, "{}"), Charge::Declined { .. }));
        assert!(matches!(p.charge("h4", 0, "{}"), Charge::Approved { .. }));
        // A declined buyer may try another card on the same hold.
        assert!(matches!(p.charge("h2", 100, card), Charge::Approved { .. }));
    }
}
