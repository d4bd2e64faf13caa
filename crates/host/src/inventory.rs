//! `marquee:platform/inventory`: holds, orders and availability of one performance, always on
//! behalf of the verified caller. What a seat is and what it costs is the performance's
//! [`marquee_ticketing::Inventory`]'s; this maps its answers to the WIT types.

use std::net::IpAddr;
use std::sync::Arc;

use marquee_ticketing as ticketing;

use crate::bindings::inventory::{Claim, Error, HoldReceipt, Order, Quantity, SectionAvailability, SessionAvailability, Ticket};

/// One request's view of its performance's inventory.
pub struct Inventory {
    /// The performance's inventory.
    pub inventory: Arc<ticketing::Inventory>,
    /// The verified caller's account id, if any: holds and orders are always the caller's own.
    pub buyer: Option<String>,
    /// The client's address, whose unpaid holds the inventory caps.
    pub address: Option<IpAddr>,
    /// The payment the buyer sent with this request (a hold's confirm), read by the host
    /// off the body the component never sees: what a confirm charges.
    pub payment: Option<String>,
}

/// The verified buyer, or the call answers `unauthenticated`.
macro_rules! signed_in {
    ($inventory:expr) => {
        match &$inventory.buyer {
            Some(buyer) => buyer.as_str(),
            None => return Ok(Err(Error::Unauthenticated)),
        }
    };
}

/// The guest's answer: a fault of the store traps the call (the guest cannot tell it from a
/// bug of its own, and the request fails as a 5xx without internals); a refusal is the
/// guest's to handle.
fn answer<T, U: From<T>>(result: anyhow::Result<Result<T, ticketing::SaleError>>) -> Answer<U> {
    match result {
        Ok(answer) => Ok(answer.map(U::from).map_err(Error::from)),
        Err(e) => Err(wasmtime::Error::from_anyhow(e)),
    }
}

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl crate::bindings::inventory::Host for Inventory {
    async fn availability(&mut self, session: String) -> Answer<SessionAvailability> {
        answer(self.inventory.availability(&session).await)
    }

    async fn hold(&mut self, session: String, claim: Claim, idempotency_key: Option<String>, per_buyer_limit: u32) -> Answer<HoldReceipt> {
        let holder = ticketing::Holder { buyer: signed_in!(self), address: self.address };
        answer(self.inventory.hold(holder, &session, &claim.into(), idempotency_key.as_deref(), per_buyer_limit).await)
    }

    async fn release(&mut self, hold_id: String) -> Answer<()> {
        answer(self.inventory.release(signed_in!(self), &hold_id).await)
    }

    /// The guest's `payment` is not read: card data never passes through a component, so a
    /// confirm charges only what the buyer sent the platform with this very request (none
    /// outside a confirm: a free order still confirms, a priced one is declined).
    async fn confirm(&mut self, hold_id: String, _payment: String) -> Answer<Order> {
        let payment = self.payment.as_deref().unwrap_or("{}");
        answer(self.inventory.confirm(signed_in!(self), &hold_id, payment).await)
    }

    async fn cancel(&mut self, order_id: String) -> Answer<Order> {
        answer(self.inventory.cancel(signed_in!(self), &order_id).await)
    }

    async fn orders(&mut self) -> Answer<Vec<Order>> {
        let orders = self.inventory.orders(signed_in!(self)).await.map_err(wasmtime::Error::from_anyhow)?;
        Ok(Ok(orders.into_iter().map(Order::from).collect()))
    }
}

impl From<Quantity> for ticketing::Quantity {
    fn from(Quantity { name, count }: Quantity) -> Self {
        Self { name, count }
    }
}

impl From<Claim> for ticketing::Claim {
    fn from(claim: Claim) -> Self {
        let quantities = |q: Vec<Quantity>| q.into_iter().map(Into::into).collect();
        Self { seats: claim.seats, sections: quantities(claim.sections), goods: quantities(claim.goods) }
    }
}

impl From<ticketing::SectionAvailability> for SectionAvailability {
    fn from(ticketing::SectionAvailability { name, capacity, available }: ticketing::SectionAvailability) -> Self {
        Self { name, capacity, available }
    }
}

impl From<ticketing::SessionAvailability> for SessionAvailability {
    fn from(a: ticketing::SessionAvailability) -> Self {
        let sections = |s: Vec<ticketing::SectionAvailability>| s.into_iter().map(Into::into).collect();
        Self { sections: sections(a.sections), taken: a.taken, goods: sections(a.goods) }
    }
}

impl From<ticketing::HoldReceipt> for HoldReceipt {
    fn from(ticketing::HoldReceipt { id, session, seats, expires_at, amount }: ticketing::HoldReceipt) -> Self {
        Self { id, session, seats, expires_at, amount }
    }
}

impl From<ticketing::Order> for Order {
    fn from(order: ticketing::Order) -> Self {
        Self {
            id: order.id,
            session: order.session,
            amount: order.amount,
            status: order.status.as_str().into(),
            tickets: order.tickets.into_iter().map(|t| Ticket { seat: t.seat, code: t.code }).collect(),
            created_at: order.created_at,
        }
    }
}

impl From<ticketing::SaleError> for Error {
    fn from(e: ticketing::SaleError) -> Self {
        use ticketing::SaleError as E;
        match e {
            E::UnknownSession => Self::UnknownSession,
            E::UnknownSeat(seat) => Self::UnknownSeat(seat),
            E::Unavailable(taken) => Self::Unavailable(taken),
            E::OverLimit(n) => Self::OverLimit(n),
            E::AddressLimit(n) => Self::AddressLimit(n),
            E::NotFound => Self::NotFound,
            E::Expired => Self::Expired,
            E::Forbidden => Self::Forbidden,
            E::Invalid(why) => Self::Invalid(why),
            E::Conflict(why) => Self::Conflict(why),
            E::PaymentDeclined(why) => Self::PaymentDeclined(why),
            E::Unauthenticated => Self::Unauthenticated,
            E::IdempotencyKeyReused => Self::IdempotencyKeyReused,
        }
    }
}
