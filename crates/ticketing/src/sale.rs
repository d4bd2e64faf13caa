//! What a buyer asks of a performance's inventory and what they get back, in the domain's
//! terms; the Wasm host maps them to and from the WIT `inventory` interface.

use std::net::IpAddr;

use marquee_store::OrderStatus;

/// Who asks for a hold: the verified buyer, and the client address the request came from.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub buyer: &'a str,
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
    pub name: String,
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
    pub name: String,
    pub capacity: u32,
    pub available: u32,
}

/// What is left in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAvailability {
    pub sections: Vec<SectionAvailability>,
    /// Numbered seats that are held or sold.
    pub taken: Vec<String>,
    pub goods: Vec<SectionAvailability>,
}

/// A hold: what it becomes (seat ids, `SECTION#n` units, `goods/NAME#n` goods), until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReceipt {
    pub id: String,
    pub session: String,
    pub seats: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub expires_at: u64,
    pub amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub seat: String,
    pub code: String,
}

/// A buyer's order with its status now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub session: String,
    pub amount: u64,
    pub status: OrderStatus,
    pub tickets: Vec<Ticket>,
    pub created_at: u64,
}

/// Why the inventory refused a buyer's call: the answer the buyer's component handles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleError {
    #[error("no such session")]
    UnknownSession,
    #[error("no seat {0}")]
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
    NotFound,
    #[error("the hold expired")]
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
    PaymentDeclined(String),
    /// The request has no verified caller to hold or buy for.
    #[error("sign in first")]
    Unauthenticated,
    /// The idempotency key was first sent with another request.
    #[error("the idempotency key was sent with another request")]
    IdempotencyKeyReused,
}
