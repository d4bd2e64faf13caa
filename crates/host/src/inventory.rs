//! `marquee:platform/inventory`: holds, orders and availability of one performance, always on
//! behalf of the verified caller. What a seat is and what it costs is the [`Backend`]'s.

use std::net::IpAddr;
use std::sync::Arc;

use marquee_store::BoxFuture;

use crate::bindings::inventory::{Claim, Error, HoldReceipt, Order, SessionAvailability};

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

/// A performance's inventory. The outer error is a fault of its store, which traps the call;
/// the inner one is the answer the guest handles.
pub trait Backend: Send + Sync {
    fn availability<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<SessionAvailability, Error>>;
    fn hold<'a>(
        &'a self,
        holder: Holder<'a>,
        session: &'a str,
        claim: &'a Claim,
        idempotency_key: Option<&'a str>,
        per_buyer_limit: u32,
    ) -> BoxFuture<'a, Result<HoldReceipt, Error>>;
    fn release<'a>(&'a self, buyer: &'a str, hold_id: &'a str) -> BoxFuture<'a, Result<(), Error>>;
    fn confirm<'a>(&'a self, buyer: &'a str, hold_id: &'a str, payment: &'a str) -> BoxFuture<'a, Result<Order, Error>>;
    fn cancel<'a>(&'a self, buyer: &'a str, order_id: &'a str) -> BoxFuture<'a, Result<Order, Error>>;
    fn orders<'a>(&'a self, buyer: &'a str) -> BoxFuture<'a, Vec<Order>>;
}

pub struct Inventory {
    pub backend: Arc<dyn Backend>,
    /// The verified caller's account id, if any: holds and orders are always the caller's own.
    pub buyer: Option<String>,
    /// The client's address, whose unpaid holds the backend caps.
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

/// A fault of the store traps the call: the guest cannot tell it from a bug of its own, and
/// the request fails as a 5xx without internals.
fn trap(e: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::from_anyhow(e)
}

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl crate::bindings::inventory::Host for Inventory {
    async fn availability(&mut self, session: String) -> Answer<SessionAvailability> {
        self.backend.availability(&session).await.map_err(trap)
    }

    async fn hold(&mut self, session: String, claim: Claim, idempotency_key: Option<String>, per_buyer_limit: u32) -> Answer<HoldReceipt> {
        let holder = Holder { buyer: signed_in!(self), address: self.address };
        self.backend.hold(holder, &session, &claim, idempotency_key.as_deref(), per_buyer_limit).await.map_err(trap)
    }

    async fn release(&mut self, hold_id: String) -> Answer<()> {
        self.backend.release(signed_in!(self), &hold_id).await.map_err(trap)
    }

    /// The guest's `payment` is not read: card data never passes through a component, so a
    /// confirm charges only what the buyer sent the platform with this very request (none
    /// outside a confirm: a free order still confirms, a priced one is declined).
    async fn confirm(&mut self, hold_id: String, _payment: String) -> Answer<Order> {
        let payment = self.payment.as_deref().unwrap_or("{}");
        self.backend.confirm(signed_in!(self), &hold_id, payment).await.map_err(trap)
    }

    async fn cancel(&mut self, order_id: String) -> Answer<Order> {
        self.backend.cancel(signed_in!(self), &order_id).await.map_err(trap)
    }

    async fn orders(&mut self) -> Answer<Vec<Order>> {
        Ok(Ok(self.backend.orders(signed_in!(self)).await.map_err(trap)?))
    }
}
