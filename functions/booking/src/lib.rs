//! The buyer's side of a performance: holds, checkout, orders, cancellation.
//!
//! Business rules live here (who may buy, the booking window, the per-buyer limit, what a
//! request must contain); the host's inventory keeps the invariant that no seat is sold
//! twice and charges exactly the hold's amount.

use marquee_sdk::inventory::{self, Claim, Quantity};
use marquee_sdk::{Handler, Request, Response, clock, config, kv};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Seats or units one hold may ask for.
const MAX_SEATS_PER_HOLD: usize = 100;

#[derive(Deserialize)]
struct Params {
    per_buyer_limit: u32,
    /// A presale admits only buyers the presale auth component let in.
    #[serde(default)]
    presale_codes: Vec<String>,
    #[serde(default)]
    booking_opens_at: Option<String>,
    #[serde(default)]
    booking_closes_at: Option<String>,
}

/// `{session, seats}` or `{session, section, quantity}` as in the contract; `sections` and
/// `goods` lists of `{name, quantity}` may be added to hold several things at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    session: String,
    #[serde(default)]
    seats: Vec<String>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    quantity: Option<u32>,
    #[serde(default)]
    sections: Vec<NamedQuantity>,
    #[serde(default)]
    goods: Vec<NamedQuantity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedQuantity {
    name: String,
    quantity: u32,
}

impl HoldRequest {
    fn claim(self) -> Result<Claim, Response> {
        let invalid = |m: &str| Response::error(400, "invalid_hold", m);
        let mut sections: Vec<Quantity> =
            self.sections.into_iter().map(|q| Quantity { name: q.name, count: q.quantity }).collect();
        match (self.section, self.quantity) {
            (Some(name), Some(count)) => sections.push(Quantity { name, count }),
            (None, None) => {}
            _ => return Err(invalid("section and quantity go together")),
        }
        let goods: Vec<Quantity> = self.goods.into_iter().map(|q| Quantity { name: q.name, count: q.quantity }).collect();
        let total = self.seats.len() as u64
            + sections.iter().map(|q| u64::from(q.count)).sum::<u64>()
            + goods.iter().map(|q| u64::from(q.count)).sum::<u64>();
        if total == 0 || total > MAX_SEATS_PER_HOLD as u64 || sections.iter().chain(&goods).any(|q| q.count == 0) {
            return Err(invalid(&format!(
                "ask for seats: [ids], section + quantity, or goods, 1 to {MAX_SEATS_PER_HOLD} in all"
            )));
        }
        Ok(Claim { seats: self.seats, sections, goods })
    }
}

#[derive(Deserialize)]
struct ConfirmRequest {
    #[serde(default)]
    payment: serde_json::Value,
}

#[derive(Serialize)]
struct Ticket {
    seat: String,
    code: String,
}

#[derive(Serialize)]
struct OrderView {
    order_id: String,
    session: String,
    amount: u64,
    status: String,
    tickets: Vec<Ticket>,
    created_at: String,
}

impl From<inventory::Order> for OrderView {
    fn from(o: inventory::Order) -> Self {
        Self {
            order_id: o.id,
            session: o.session,
            amount: o.amount,
            status: o.status,
            tickets: o.tickets.into_iter().map(|t| Ticket { seat: t.seat, code: t.code }).collect(),
            created_at: clock::format_ms(o.created_at),
        }
    }
}

struct Booking;

impl Handler for Booking {
    fn handle(req: Request) -> Response {
        let buyer = match buyer() {
            Ok(id) => id,
            Err(response) => return response,
        };
        let result = match (req.method.as_str(), req.segments().as_slice()) {
            ("POST", ["api", "holds"]) => hold(&req, &buyer),
            ("POST", ["api", "holds", id, "confirm"]) => confirm(&req, id),
            ("DELETE", ["api", "holds", id]) => release(id),
            ("GET", ["api", "orders"]) => orders(),
            ("POST", ["api", "orders", id, "cancel"]) => cancel(id),
            (_, ["api", "holds"]) | (_, ["api", "holds", _, "confirm"]) | (_, ["api", "orders", _, "cancel"]) => {
                Err(Response::method_not_allowed("POST"))
            }
            (_, ["api", "holds", _]) => Err(Response::method_not_allowed("DELETE")),
            (_, ["api", "orders"]) => Err(Response::method_not_allowed("GET")),
            _ => Err(Response::not_found()),
        };
        result.unwrap_or_else(|response| response)
    }
}

/// The calling buyer's account id, verified by the host.
fn buyer() -> Result<String, Response> {
    let principal = marquee_sdk::caller()?;
    if principal.role != "buyer" {
        return Err(Response::error(403, "forbidden", "only buyer accounts can book"));
    }
    Ok(principal.id)
}

fn params() -> Result<Params, Response> {
    serde_json::from_str(&config::params()).map_err(|e| Response::error(500, "invalid_config", &e.to_string()))
}

fn inventory_error(e: inventory::Error) -> Response {
    use inventory::Error as E;
    match e {
        E::UnknownSession => Response::error(404, "unknown_session", "no such session"),
        E::UnknownSeat(seat) => Response::error(400, "unknown_seat", &format!("no seat {seat:?} on this map")),
        E::Unavailable(items) => Response::json(
            409,
            &json!({"error": "unavailable", "message": "some of these are taken", "unavailable": items}),
        ),
        E::OverLimit(limit) => Response::error(429, "over_limit", &format!("at most {limit} tickets per buyer")),
        E::AddressLimit(limit) => Response::error(
            429,
            "over_limit",
            &format!("at most {limit} unpaid tickets may be held from one address; pay for or release a hold first"),
        ),
        E::NotFound => Response::error(404, "not_found", "no such hold or order"),
        E::Expired => Response::error(410, "hold_expired", "this hold has expired or was released"),
        E::Forbidden => Response::error(403, "forbidden", "this belongs to another buyer"),
        E::Invalid(message) => Response::error(400, "invalid_request", &message),
        E::Conflict(message) => {
            // The host's reason, where it names one (`already_used: …`), is the code.
            let reason = message.split_once(": ").map(|(reason, _)| reason);
            let code = reason.filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')).unwrap_or("conflict");
            Response::error(409, code, &message)
        }
        E::PaymentDeclined(reason) => Response::error(402, "payment_declined", &reason),
        E::Unauthenticated => Response::error(401, "unauthorized", "log in first"),
        E::IdempotencyKeyReused => Response::error(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was sent with another request; use a new key for a new request",
        ),
    }
}

fn hold(req: &Request, buyer: &str) -> Result<Response, Response> {
    let body: HoldRequest = req.json()?;
    let params = params()?;
    if !params.presale_codes.is_empty() && !matches!(kv::get(&format!("presale-admitted/{buyer}")), Ok(Some(_))) {
        return Err(Response::error(403, "presale_code_required", "this presale admits only buyers with a code: enter the code the seller gave you"));
    }
    let now = clock::now();
    if params.booking_opens_at.as_ref().is_some_and(|opens| now < *opens) {
        return Err(Response::error(403, "booking_closed", "booking has not opened yet"));
    }
    if params.booking_closes_at.as_ref().is_some_and(|closes| now >= *closes) {
        return Err(Response::error(403, "booking_closed", "booking has closed"));
    }
    let session = body.session.clone();
    let claim = body.claim()?;
    let key = req.header("idempotency-key").filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 200) {
        return Err(Response::error(400, "invalid_idempotency_key", "Idempotency-Key is at most 200 characters"));
    }
    let hold = inventory::hold(&session, &claim, key, params.per_buyer_limit).map_err(inventory_error)?;
    Ok(Response::json(
        201,
        &json!({
            "hold_id": hold.id,
            "session": hold.session,
            "seats": hold.seats,
            "amount": hold.amount,
            "expires_at": clock::format_ms(hold.expires_at),
        }),
    ))
}

fn confirm(req: &Request, hold_id: &str) -> Result<Response, Response> {
    let body: ConfirmRequest = if req.body.is_empty() { ConfirmRequest { payment: json!({}) } } else { req.json()? };
    let order = inventory::confirm(hold_id, &body.payment.to_string()).map_err(inventory_error)?;
    Ok(Response::json(201, &OrderView::from(order)))
}

fn release(hold_id: &str) -> Result<Response, Response> {
    inventory::release(hold_id).map_err(inventory_error)?;
    Ok(Response { status: 204, headers: Vec::new(), body: Vec::new() })
}

fn orders() -> Result<Response, Response> {
    let orders: Vec<OrderView> = inventory::orders().map_err(inventory_error)?.into_iter().map(OrderView::from).collect();
    Ok(Response::json(200, &orders))
}

fn cancel(order_id: &str) -> Result<Response, Response> {
    let order = inventory::cancel(order_id).map_err(inventory_error)?;
    Ok(Response::json(200, &OrderView::from(order)))
}

marquee_sdk::export!(Booking);
