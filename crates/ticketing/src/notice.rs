//! What the platform owes a buyer after an order changes: a notice kept in the store's outbox,
//! which the mail crate writes out and sends. The domain names it; it sends nothing itself.

use serde::{Deserialize, Serialize};

/// The outbox queue of mail to buyers.
pub const MAIL: &str = "mail";

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
