//! What a buyer asks of a performance's inventory and what they get back, in the domain's
//! terms; the Wasm host maps them to and from the WIT `inventory` interface.

use std::net::IpAddr;

use marquee_store::OrderStatus;

/// Who asks for a hold: the verified buyer, and the client address the request came from.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    /// The buyer's account id, from a verified token.
    pub buyer: &'a str,
    /// The client's address, whose unpaid items are capped.
    pub address: Option<IpAddr>,
}

impl<'a> From<&'a str> for Holder<'a> {
    fn from(buyer: &'a str) -> Self {
        Self { buyer, address: None }
    }
}

/// How many of a named thing: units of a general-admission section, or goods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The section's or goods' name.
    pub name: String,
    /// How many.
    pub count: u32,
}

/// What a buyer asks to hold, all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// Numbered seats, e.g. `R-3-12`.
    pub seats: Vec<String>,
    /// Units of general-admission sections.
    pub sections: Vec<Quantity>,
    /// Goods sold by quantity from stock every session shares.
    pub goods: Vec<Quantity>,
}

/// A section's (or goods') capacity and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionAvailability {
    /// The section's or goods' name.
    pub name: String,
    /// Units or seats in all.
    pub capacity: u32,
    /// Of those, neither held nor sold.
    pub available: u32,
}

/// What is left in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAvailability {
    /// Each section of the session.
    pub sections: Vec<SectionAvailability>,
    /// Numbered seats that are held or sold.
    pub taken: Vec<String>,
    /// Each kind of goods (their stock is shared by every session).
    pub goods: Vec<SectionAvailability>,
}

/// A hold: what it becomes (seat ids, `SECTION#n` units, `goods/NAME#n` goods), until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReceipt {
    /// The hold's id.
    pub id: String,
    /// The session it is for.
    pub session: String,
    /// What it holds, by ticket name.
    pub seats: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// What it costs, in minor units.
    pub amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One ticket of an order.
pub struct Ticket {
    /// Its name: a seat (`R-1-2`), a unit (`FLOOR#3`) or goods (`goods/SHIRT#1`).
    pub seat: String,
    /// The code printed on it.
    pub code: String,
}

/// A buyer's order with its status now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The order's id.
    pub id: String,
    /// The session it is for.
    pub session: String,
    /// What the buyer paid, in minor units.
    pub amount: u64,
    /// Whether it stands.
    pub status: OrderStatus,
    /// Its tickets.
    pub tickets: Vec<Ticket>,
    /// When it was confirmed, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// Why the inventory refused a buyer's call: the answer the buyer's component handles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleError {
    #[error("no such session")]
    /// The performance has no such session.
    UnknownSession,
    #[error("no seat {0}")]
    /// The session has no such seat.
    UnknownSeat(String),
    /// Seats or sections that are not free.
    #[error("not available: {}", .0.join(", "))]
    Unavailable(Vec<String>),
    /// The buyer would hold more than this many seats or units.
    #[error("more than {0} per buyer")]
    OverLimit(u32),
    /// The client's address would hold more than this many unpaid seats or units.
    #[error("more than {0} unpaid per client")]
    AddressLimit(u32),
    #[error("not found")]
    /// No such hold or order.
    NotFound,
    #[error("the hold expired")]
    /// The hold ended unpaid.
    Expired,
    /// The caller is not the buyer of this hold or order.
    #[error("not yours")]
    Forbidden,
    /// The request itself is malformed (a seat asked for twice, a zero quantity, ...).
    #[error("{0}")]
    Invalid(String),
    /// Not in this state; where it says why, the text starts with a reason and a colon.
    #[error("{0}")]
    Conflict(String),
    #[error("payment declined: {0}")]
    /// The payment provider declined the card, saying why.
    PaymentDeclined(String),
    /// The request has no verified caller to hold or buy for.
    #[error("sign in first")]
    Unauthenticated,
    /// The idempotency key was first sent with another request.
    #[error("the idempotency key was sent with another request")]
    IdempotencyKeyReused,
}
