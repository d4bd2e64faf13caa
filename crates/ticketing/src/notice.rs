//! What the platform owes a buyer after an order changes: a notice kept in the store's outbox,
//! which the mail crate writes out and sends. The domain names it; it sends nothing itself.

use serde::{Deserialize, Serialize};

/// The outbox queue of mail to buyers.
pub const MAIL: &str = "mail";

/// How long before its session an order's reminder is due, or, for an order made later than
/// that, the second; none for an order made later still.
const REMIND_BEFORE: [u64; 2] = [24 * 3600 * 1000, 2 * 3600 * 1000];

/// When the reminder of an order made at `ordered_at` for a session starting at `starts_at`
/// (RFC 3339) is due, in milliseconds since the Unix epoch.
pub fn reminder_due(starts_at: &str, ordered_at: u64) -> Option<u64> {
    let starts = crate::templates::canonical_secs(starts_at).max(0) as u64 * 1000;
    REMIND_BEFORE.into_iter().map(|lead| starts.saturating_sub(lead)).find(|due| *due > ordered_at)
}

/// What a message of the outbox is about: kept as its body, written out when it is sent, so
/// the mail says what is true then (a ticket refunded meanwhile is not sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What to tell.
    #[serde(flatten)]
    pub kind: Kind,
    /// The performance's deployment.
    pub deployment: String,
    /// The order.
    pub order: String,
    /// Its buyer's account id.
    pub buyer: String,
}

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The order was confirmed: its tickets.
    Confirmation,
    /// Money of the order was paid back.
    Refund {
        /// What was paid back, in minor units.
        amount: u64,
    },
    /// The order's session is soon.
    Reminder,
}

impl Notice {
    /// The outbox id of this notice: one of each kind per order, a refund's per refund (`n`).
    pub fn id(&self, n: usize) -> String {
        let order = &self.order;
        match self.kind {
            Kind::Confirmation => format!("confirmation/{order}"),
            Kind::Refund { .. } => format!("refund/{order}/{n}"),
            Kind::Reminder => format!("reminder/{order}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_is_due_a_day_before_or_two_hours_before_for_a_late_order() {
        let starts = 1_803_927_600_000; // 2027-03-01T19:00:00Z
        let at = "2027-03-01T19:00:00Z";
        assert_eq!(reminder_due(at, 0), Some(starts - 24 * 3600 * 1000));
        assert_eq!(reminder_due(at, starts - 5 * 3600 * 1000), Some(starts - 2 * 3600 * 1000));
        assert_eq!(reminder_due(at, starts - 3600 * 1000), None, "an hour before: no reminder");
    }
}
