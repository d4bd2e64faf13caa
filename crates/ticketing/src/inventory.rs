//! The inventory of one performance: its catalogue (sections, seats, goods, prices, ticket
//! names) over a [`ClaimStore`], which keeps the claims and the orders.
//!
//! Only claims are stored (a 50,000-seat map costs nothing until seats are held); each step
//! is one atomic call of the store, so the invariant of the public contract holds however
//! many runtimes share it: no component, built-in or uploaded, can sell a seat twice.
//! Payment happens between the steps that start and finish a confirm, outside any lock.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use marquee_store::{Cancelled, CheckIn, ClaimStore, ConfirmStart, Entry, HoldOutcome, HoldRequest, Money, Refund, RefundRequest, Refusal, StoredOrder, Units};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use marquee_identity::random_hex;
use crate::sale::{Claim, HoldReceipt, Holder, Order, Quantity, SaleError, SectionAvailability, SessionAvailability, Ticket};
use marquee_store::clock::now_ms;
use marquee_telemetry::SalesMetrics;
use marquee_store::{Claims, OrderRow, OrderStatus, Outbox, Restored, TicketRow};
use crate::notice::{Kind, MAIL, Notice};
use crate::pass::PassKey;
use crate::payments::{Charge, Payments};
use crate::keys::{Pool, TicketName};
use crate::templates::PerformanceParams;

/// How long a confirm may take between its start and its order before the hold is swept
/// (its charge is then refunded): far above a payment's time, so only a dead runtime hits it.
const CONFIRM_LEASE_MS: u64 = 60_000;

/// Signs ticket codes so check-in can verify them without a lookup, and no one can guess one.
pub struct TicketSigner {
    key: Vec<u8>,
}

impl TicketSigner {
    /// A signer with this secret key.
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// The secret key, from which each deployment's pass key is derived.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.key
    }

    fn mac(&self, deployment: &str, order: &str, seat: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [deployment, order, seat] {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        mac
    }

    /// The code printed on a ticket.
    pub fn code(&self, deployment: &str, order: &str, seat: &str) -> String {
        let tag = self.mac(deployment, order, seat).finalize().into_bytes();
        hex::encode(&tag[..12])
    }

    /// Whether a code belongs to this seat of this order.
    pub fn verify(&self, deployment: &str, order: &str, seat: &str, code: &str) -> bool {
        let Ok(tag) = hex::decode(code) else { return false };
        tag.len() == 12 && self.mac(deployment, order, seat).verify_truncated_left(&tag).is_ok()
    }
}

/// What every performance's inventory shares: the payment provider, the ticket signer.
pub struct Commerce {
    /// The payment provider, behind the platform's retries.
    pub payments: Arc<Payments>,
    /// Signs ticket codes.
    pub signer: TicketSigner,
    /// Most seats or units one client address may hold unpaid in a session (0: no cap).
    pub max_held_per_address: u32,
    /// Where mail to buyers waits to be sent.
    pub outbox: Arc<dyn Outbox>,
}


enum SectionKind {
    Numbered { rows: u32, per_row: u32 },
    General { capacity: u32 },
}

struct SectionDef {
    name: String,
    price: u64,
    kind: SectionKind,
}

impl SectionDef {
    fn capacity(&self) -> u32 {
        match self.kind {
            SectionKind::Numbered { rows, per_row } => rows * per_row,
            SectionKind::General { capacity } => capacity,
        }
    }
}

/// Goods (merch): stock shared by every session of the performance.
struct GoodsDef {
    name: String,
    price: u64,
    stock: u32,
    /// Most one buyer may hold or own; `None`: the performance's limit at the time of a hold.
    per_buyer: Option<u32>,
}

/// One claimed thing: a numbered seat, units of a general-admission section, or goods.
#[derive(Clone, Debug)]
enum Item {
    Seat { section: usize, seat: String },
    Units { section: usize, quantity: u32 },
    Goods { goods: usize, quantity: u32 },
}

impl Item {
    /// Tickets this item counts toward the per-buyer limit.
    fn tickets(&self) -> u32 {
        match self {
            Item::Seat { .. } => 1,
            Item::Units { quantity, .. } => *quantity,
            Item::Goods { .. } => 0,
        }
    }

    /// What this item counts toward its address's cap on unpaid items: everything.
    fn unpaid(&self) -> u32 {
        match self {
            Item::Seat { .. } => 1,
            Item::Units { quantity, .. } | Item::Goods { quantity, .. } => *quantity,
        }
    }
}


/// What a hold's receipt keeps in the store: its ticket names, each one's price (so a refund
/// of some pays back what they cost) and the whole price.
#[derive(Serialize, Deserialize)]
struct HoldPayload {
    tickets: Vec<String>,
    #[serde(default)]
    prices: Vec<u64>,
    amount: u64,
}

/// The inventory of one deployed performance.
pub struct Inventory {
    deployment: String,
    /// Signs and reads the passes of this deployment's tickets; derived on first use, so a
    /// performance nobody checks in costs no key derivation when it is deployed or restored.
    pass_key: std::sync::OnceLock<PassKey>,
    hold_ttl_ms: u64,
    /// The performance's limit of tickets per buyer, which limits goods without one of their own.
    per_buyer_limit: u32,
    layout: Layout,
    claims: Arc<dyn ClaimStore>,
    commerce: Arc<Commerce>,
    sales: SalesMetrics,
}

fn new_id(prefix: char) -> String {
    format!("{prefix}_{}", random_hex(12))
}

/// What a performance sells, as its params describe it: sections, goods and sessions.
struct Layout {
    sections: Vec<SectionDef>,
    section_index: HashMap<String, usize>,
    goods: Vec<GoodsDef>,
    goods_index: HashMap<String, usize>,
    sessions: Vec<String>,
}

impl Inventory {
    /// A performance's inventory over its claims in `claims`.
    pub async fn open(deployment: &str, params: &PerformanceParams, commerce: Arc<Commerce>, sales: SalesMetrics, claims: &dyn Claims) -> Result<Self> {
        let layout = Layout::of(params);
        let hold_ttl_ms = u64::from(params.hold_ttl_seconds) * 1000;
        let claims = claims.open(deployment, hold_ttl_ms, &|row| layout.restored(row, params.per_buyer_limit)).await?;
        let per_buyer_limit = params.per_buyer_limit;
        let pass_key = std::sync::OnceLock::new();
        Ok(Self { deployment: deployment.to_string(), pass_key, hold_ttl_ms, per_buyer_limit, layout, claims, commerce, sales })
    }

    /// This inventory as a change of its performance's parameters leaves it (new prices, say):
    /// the same claims, never opened twice, under the new layout.
    pub fn successor(&self, params: &PerformanceParams) -> Self {
        Self {
            deployment: self.deployment.clone(),
            pass_key: self.pass_key.clone(),
            hold_ttl_ms: self.hold_ttl_ms,
            per_buyer_limit: params.per_buyer_limit,
            layout: Layout::of(params),
            claims: self.claims.clone(),
            commerce: self.commerce.clone(),
            sales: self.sales.clone(),
        }
    }
}

/// What a performance's logged orders claim, as [`Inventory::open`] rebuilds them: what a
/// restore puts back with each order (`None` for an order of a session no longer sold).
pub fn replay(params: &PerformanceParams) -> impl Fn(&OrderRow) -> Result<Option<Restored>> + Send + Sync + 'static {
    let (layout, per_buyer_limit) = (Layout::of(params), params.per_buyer_limit);
    move |row| layout.restored(row, per_buyer_limit)
}

impl Layout {
    fn of(params: &PerformanceParams) -> Self {
        let sections: Vec<SectionDef> = params
            .sections
            .iter()
            .map(|s| SectionDef {
                name: s.name.clone(),
                price: s.price as u64,
                kind: match (s.rows, s.seats_per_row) {
                    (Some(rows), Some(per_row)) => SectionKind::Numbered { rows, per_row },
                    _ => SectionKind::General { capacity: s.capacity.unwrap_or(0) },
                },
            })
            .collect();
        let section_index = sections.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
        let goods: Vec<GoodsDef> =
            params.goods.iter().map(|g| GoodsDef { name: g.name.clone(), price: g.price as u64, stock: g.stock, per_buyer: g.per_buyer_limit }).collect();
        let goods_index = goods.iter().enumerate().map(|(i, g)| (g.name.clone(), i)).collect();
        Self { sections, section_index, goods, goods_index, sessions: params.sessions.iter().map(|s| s.id.clone()).collect() }
    }

    /// The claims of a logged order, for a store that keeps only its log; `None` when its
    /// session is no longer sold.
    fn restored(&self, row: &OrderRow, per_buyer_limit: u32) -> Result<Option<Restored>> {
        if !self.sessions.contains(&row.session) {
            return Ok(None);
        }
        // What the seller refunded claims nothing any more.
        let kept: Vec<TicketRow> = row.tickets.iter().filter(|t| !row.is_refunded(&t.seat)).cloned().collect();
        let items = self.items_of_tickets(&kept);
        let (seats, units) = self.claims_of(&row.session, &items, per_buyer_limit);
        let order = StoredOrder {
            order_id: row.id.clone(),
            buyer: row.buyer.clone(),
            record: serde_json::to_string(&OrderRow { refunds: Vec::new(), ..row.clone() })?,
            status: row.status,
            refunds: row.refunds.clone(),
        };
        let tickets = items.iter().map(Item::tickets).sum();
        let (hold_id, session) = (row.hold_id.clone(), row.session.clone());
        Ok(Some(Restored { hold_id, session, seats, units, tickets, amount: row.amount, created_at: row.created_at, order }))
    }

    /// Rebuilds the items of an order from its ticket names.
    fn items_of_tickets(&self, tickets: &[TicketRow]) -> Vec<Item> {
        let mut units: HashMap<usize, u32> = HashMap::new();
        let mut goods: HashMap<usize, u32> = HashMap::new();
        let mut items = Vec::new();
        for t in tickets {
            match TicketName::parse(&t.seat) {
                TicketName::Goods { goods: name, .. } => {
                    if let Some(&i) = self.goods_index.get(name) {
                        *goods.entry(i).or_default() += 1;
                    }
                }
                TicketName::Unit { section, .. } => {
                    if let Some(&i) = self.section_index.get(section) {
                        *units.entry(i).or_default() += 1;
                    }
                }
                TicketName::Seat(seat) => {
                    if let Ok(item) = self.parse_seat(seat) {
                        items.push(item);
                    }
                }
            }
        }
        items.extend(units.into_iter().map(|(section, quantity)| Item::Units { section, quantity }));
        items.extend(goods.into_iter().map(|(goods, quantity)| Item::Goods { goods, quantity }));
        items
    }

    /// What items claim in the store: seat ids, and units of pools (a numbered section's
    /// seats count in its pool as well). Goods without a limit of their own are limited per
    /// buyer by `per_buyer_limit`, the performance's.
    fn claims_of(&self, session: &str, items: &[Item], per_buyer_limit: u32) -> (Vec<String>, Vec<Units>) {
        let mut seats = Vec::new();
        let mut per_section: Vec<u32> = vec![0; self.sections.len()];
        let mut units = Vec::new();
        for item in items {
            match item {
                Item::Seat { section, seat } => {
                    seats.push(seat.clone());
                    per_section[*section] += 1;
                }
                Item::Units { section, quantity } => per_section[*section] += quantity,
                Item::Goods { goods, quantity } => {
                    let def = &self.goods[*goods];
                    let per_buyer = def.per_buyer.unwrap_or(per_buyer_limit);
                    units.push(Units { pool: Pool::Goods(&def.name).to_string(), quantity: *quantity, capacity: def.stock, per_buyer });
                }
            }
        }
        let sections = per_section.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
            let def = &self.sections[i];
            Units { pool: Pool::Section { session, section: &def.name }.to_string(), quantity: *n, capacity: def.capacity(), per_buyer: 0 }
        });
        let mut all: Vec<Units> = sections.collect();
        all.extend(units);
        (seats, all)
    }

    /// The names of the tickets an item becomes (`R-1-2`, `S#1`, `goods/SHIRT#1`, ...).
    fn ticket_names(&self, item: &Item) -> Vec<String> {
        match item {
            Item::Seat { seat, .. } => vec![seat.clone()],
            Item::Units { section, quantity } => {
                (1..=*quantity).map(|n| TicketName::Unit { section: &self.sections[*section].name, n }.to_string()).collect()
            }
            Item::Goods { goods, quantity } => {
                (1..=*quantity).map(|n| TicketName::Goods { goods: &self.goods[*goods].name, n }.to_string()).collect()
            }
        }
    }

    /// One ticket's price now, by its name (for orders from before prices were kept per ticket).
    fn ticket_price(&self, name: &str) -> u64 {
        match TicketName::parse(name) {
            TicketName::Goods { goods, .. } => self.goods_index.get(goods).map_or(0, |&i| self.goods[i].price),
            TicketName::Unit { section, .. } => self.section_index.get(section).map_or(0, |&i| self.sections[i].price),
            TicketName::Seat(seat) => self.parse_seat(seat).map_or(0, |item| self.price(&item)),
        }
    }

    fn price(&self, item: &Item) -> u64 {
        match item {
            Item::Seat { section, .. } => self.sections[*section].price,
            Item::Units { section, quantity } => self.sections[*section].price * u64::from(*quantity),
            Item::Goods { goods, quantity } => self.goods[*goods].price * u64::from(*quantity),
        }
    }

    fn known_session(&self, session: &str) -> Result<(), SaleError> {
        if self.sessions.iter().any(|s| s == session) { Ok(()) } else { Err(SaleError::UnknownSession) }
    }

    /// Parses and checks a seat id such as `R-3-12`; only the canonical spelling is accepted,
    /// so one seat has one id.
    fn parse_seat(&self, id: &str) -> Result<Item, SaleError> {
        let unknown = || SaleError::UnknownSeat(id.to_string());
        let mut parts = id.rsplitn(3, '-');
        let (number, row, section) = (parts.next(), parts.next(), parts.next());
        let (Some(number), Some(row), Some(section)) = (number, row, section) else { return Err(unknown()) };
        let &index = self.section_index.get(section).ok_or_else(unknown)?;
        let SectionKind::Numbered { rows, per_row } = self.sections[index].kind else { return Err(unknown()) };
        let (row_n, number_n): (u32, u32) = (row.parse().map_err(|_| unknown())?, number.parse().map_err(|_| unknown())?);
        if row_n == 0 || row_n > rows || number_n == 0 || number_n > per_row || format!("{section}-{row_n}-{number_n}") != id {
            return Err(unknown());
        }
        Ok(Item::Seat { section: index, seat: id.to_string() })
    }

    fn items_of_claim(&self, claim: &Claim) -> Result<Vec<Item>, SaleError> {
        let mut items = Vec::with_capacity(claim.seats.len() + claim.sections.len() + claim.goods.len());
        for seat in &claim.seats {
            let item = self.parse_seat(seat)?;
            if items.iter().any(|i: &Item| matches!(i, Item::Seat { seat: s, .. } if s == seat)) {
                return Err(SaleError::Invalid(format!("seat {seat} asked for twice")));
            }
            items.push(item);
        }
        for q in &claim.sections {
            let &section =
                self.section_index.get(&q.name).ok_or_else(|| SaleError::Invalid(format!("no section {:?}", q.name)))?;
            if !matches!(self.sections[section].kind, SectionKind::General { .. }) {
                return Err(SaleError::Invalid(format!("section {} has numbered seats: ask for seats", q.name)));
            }
            if q.count == 0 || items.iter().any(|i| matches!(i, Item::Units { section: s, .. } if *s == section)) {
                return Err(SaleError::Invalid(format!("ask for section {} once, with a quantity of 1 or more", q.name)));
            }
            items.push(Item::Units { section, quantity: q.count });
        }
        for q in &claim.goods {
            let &goods = self.goods_index.get(&q.name).ok_or_else(|| SaleError::Invalid(format!("no goods {:?}", q.name)))?;
            if q.count == 0 || items.iter().any(|i| matches!(i, Item::Goods { goods: g, .. } if *g == goods)) {
                return Err(SaleError::Invalid(format!("ask for goods {} once, with a quantity of 1 or more", q.name)));
            }
            items.push(Item::Goods { goods, quantity: q.count });
        }
        if items.is_empty() {
            return Err(SaleError::Invalid("nothing asked for".into()));
        }
        Ok(items)
    }

}

impl Inventory {
    /// The outer error of this and every call below is a fault of the store (the call
    /// should trap); the inner one is the buyer's answer.
    pub async fn availability(&self, session: &str) -> Result<Result<SessionAvailability, SaleError>> {
        if let Err(e) = self.layout.known_session(session) {
            return Ok(Err(e));
        }
        let mut pools: Vec<String> = self.layout.sections.iter().map(|s| Pool::Section { session, section: &s.name }.to_string()).collect();
        pools.extend(self.layout.goods.iter().map(|g| Pool::Goods(&g.name).to_string()));
        let names: Vec<&str> = pools.iter().map(String::as_str).collect();
        let taken = self.claims.taken(session, &names).await?;
        let (sections, goods) = taken.units.split_at(self.layout.sections.len().min(taken.units.len()));
        let count = |def_capacity: u32, taken: u32, name: &str| SectionAvailability {
            name: name.to_string(),
            capacity: def_capacity,
            available: def_capacity.saturating_sub(taken),
        };
        Ok(Ok(SessionAvailability {
            sections: self.layout.sections.iter().zip(sections).map(|(d, t)| count(d.capacity(), *t, &d.name)).collect(),
            taken: taken.seats,
            goods: self.layout.goods.iter().zip(goods).map(|(d, t)| count(d.stock, *t, &d.name)).collect(),
        }))
    }

    /// Claims everything in `claim` for the holder, or nothing.
    pub async fn hold<'a>(
        &self,
        holder: impl Into<Holder<'a>>,
        session: &str,
        claim: &Claim,
        idempotency_key: Option<&str>,
        per_buyer_limit: u32,
    ) -> Result<Result<HoldReceipt, SaleError>> {
        let holder = holder.into();
        let items = match self.layout.items_of_claim(claim).and_then(|items| self.layout.known_session(session).map(|()| items)) {
            Ok(items) => items,
            Err(e) => return Ok(Err(e)),
        };
        let (seats, units) = self.layout.claims_of(session, &items, per_buyer_limit);
        let tickets: Vec<String> = items.iter().flat_map(|i| self.layout.ticket_names(i)).collect();
        let payload = HoldPayload {
            prices: tickets.iter().map(|t| self.layout.ticket_price(t)).collect(),
            tickets,
            amount: items.iter().map(|i| self.layout.price(i)).sum(),
        };
        let cap = self.commerce.max_held_per_address;
        let request = HoldRequest {
            session: session.to_string(),
            hold_id: new_id('h'),
            buyer: holder.buyer.to_string(),
            address: holder.address.map(|a| a.to_string()),
            seats,
            units,
            tickets: items.iter().map(Item::tickets).sum(),
            buyer_limit: per_buyer_limit,
            unpaid: items.iter().map(Item::unpaid).sum(),
            address_cap: cap,
            ttl_ms: self.hold_ttl_ms,
            amount: payload.amount,
            key: idempotency_key.map(|k| (k.to_string(), fingerprint(session, claim))),
            payload: serde_json::to_string(&payload)?,
        };
        let receipt = |held: marquee_store::Held| -> Result<HoldReceipt> {
            let payload: HoldPayload = serde_json::from_str(&held.payload).context("a stored hold")?;
            Ok(HoldReceipt { id: held.hold_id, session: session.to_string(), seats: payload.tickets, expires_at: held.expires_at, amount: payload.amount })
        };
        Ok(match self.claims.hold(&request).await? {
            HoldOutcome::Held(held) => {
                self.sales.holds.inc();
                Ok(receipt(held)?)
            }
            HoldOutcome::Existing(held) => Ok(receipt(held)?),
            HoldOutcome::Unavailable(taken) => Err(SaleError::Unavailable(taken.into_iter().map(|t| self.display_name(&t)).collect())),
            HoldOutcome::OverLimit => Err(SaleError::OverLimit(per_buyer_limit)),
            HoldOutcome::AddressLimit => Err(SaleError::AddressLimit(cap)),
            HoldOutcome::KeyReused => Err(SaleError::IdempotencyKeyReused),
            HoldOutcome::KeyConfirmed => Err(SaleError::Conflict("this hold is already confirmed".into())),
            HoldOutcome::Expired => Err(SaleError::Expired),
            HoldOutcome::Closed => Err(closed()),
        })
    }

    /// What the buyer is told is taken: a seat id, a section's name, `goods/<name>`.
    fn display_name(&self, taken: &str) -> String {
        match Pool::parse(taken) {
            Some(Pool::Goods(goods)) => format!("goods/{goods}"),
            Some(Pool::Section { section, .. }) => section.to_string(),
            None => taken.to_string(),
        }
    }

    /// Ends a buyer's unpaid hold; refused if it is not theirs or is being paid.
    pub async fn release(&self, buyer: &str, hold_id: &str) -> Result<Result<(), SaleError>> {
        Ok(self.claims.release(hold_id, buyer).await?.map_err(|r| refused(r, "this hold is being confirmed")))
    }

    /// Pays for a hold and turns it into a durable order. A store failure refunds the charge
    /// and leaves the hold to its lease.
    pub async fn confirm(&self, buyer: &str, hold_id: &str, payment: &str) -> Result<Result<Order, SaleError>> {
        let paying = match self.claims.begin_confirm(hold_id, buyer, CONFIRM_LEASE_MS).await? {
            ConfirmStart::Ready(paying) => paying,
            ConfirmStart::Done(order) => return Ok(Ok(to_order(&order)?)),
            ConfirmStart::Refused(r) => return Ok(Err(refused(r, "this hold is already being confirmed"))),
        };
        let payload: HoldPayload = serde_json::from_str(&paying.payload).context("a stored hold")?;
        let charge_id = match self.commerce.payments.charge(hold_id, paying.amount, payment).await {
            Ok(Charge::Approved { charge_id }) => charge_id,
            Ok(Charge::Declined { reason }) => {
                self.claims.abort_confirm(hold_id).await?;
                return Ok(Err(SaleError::PaymentDeclined(reason)));
            }
            Err(e) => {
                // The hold stays the buyer's: a retry is keyed by it, so it never charges twice.
                tracing::error!(hold_id, error = format!("{e:#}"), "the payment provider did not answer a charge");
                self.claims.abort_confirm(hold_id).await?;
                return Ok(Err(SaleError::PaymentDeclined("the payment did not go through; try again".into())));
            }
        };
        let order_id = new_id('o');
        let prices = payload.prices.into_iter().map(Some).chain(std::iter::repeat(None));
        let tickets = payload
            .tickets
            .into_iter()
            .zip(prices)
            .map(|(seat, price)| TicketRow { code: self.commerce.signer.code(&self.deployment, &order_id, &seat), seat, price })
            .collect();
        let row = OrderRow {
            id: order_id.clone(),
            deployment: self.deployment.clone(),
            session: paying.session,
            buyer: buyer.to_string(),
            hold_id: hold_id.to_string(),
            amount: paying.amount,
            status: OrderStatus::Confirmed,
            tickets,
            charge_id,
            created_at: now_ms(),
            refunds: Vec::new(),
        };
        let record = serde_json::to_string(&row)?;
        // The mail is put beside the commit, not after it: on the embedded store both share one
        // group commit, on Redis one round trip. A notice of an order that was not stored in the
        // end finds no order when it is written, and is dropped.
        let confirmation = self.notice(Kind::Confirmation, &row);
        let committed = self.claims.commit_confirm(hold_id, &order_id, row.created_at, &record);
        let (committed, ()) = tokio::join!(committed, self.post(&confirmation, 0, row.created_at));
        match committed {
            Ok(true) => {
                self.sales.orders.inc();
                self.sales.tickets.inc_by(row.tickets.len() as u64);
                Ok(Ok(order_of_row(&row, row.status)))
            }
            Ok(false) => {
                self.commerce.payments.refund(&format!("expired/{hold_id}"), &self.deployment, &order_id, &row.charge_id, row.amount).await;
                Ok(Err(SaleError::Expired))
            }
            Err(e) => {
                if let Some(order) = self.committed_after_all(buyer, hold_id).await {
                    self.sales.orders.inc();
                    self.sales.tickets.inc_by(row.tickets.len() as u64);
                    return Ok(Ok(to_order(&order)?));
                }
                self.commerce.payments.refund(&format!("unstored/{hold_id}"), &self.deployment, &order_id, &row.charge_id, row.amount).await;
                let _ = self.claims.abort_confirm(hold_id).await;
                Err(e.context("could not store an order; its charge was refunded"))
            }
        }
    }

    /// After a failed commit: whether it was written all the same (a store across a network
    /// may apply a step whose answer is lost). A store still unreachable after a few tries
    /// counts as not written; the refund is logged with its hold for reconciliation.
    async fn committed_after_all(&self, buyer: &str, hold_id: &str) -> Option<StoredOrder> {
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            match self.claims.begin_confirm(hold_id, buyer, CONFIRM_LEASE_MS).await {
                Ok(ConfirmStart::Done(order)) => return Some(order),
                // Still paying (`Busy`) or gone: it was not written.
                Ok(_) => return None,
                Err(_) => continue,
            }
        }
        tracing::error!(hold_id, deployment = %self.deployment, "refunding a payment whose order may have been stored");
        None
    }

    /// Cancels a buyer's confirmed order: its seats are free again and its charge is refunded.
    pub async fn cancel(&self, buyer: &str, order_id: &str) -> Result<Result<Order, SaleError>> {
        match self.cancel_order(Some(buyer), order_id).await? {
            Ok(cancelled) => Ok(Ok(to_order(&cancelled.order)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Stops sales and cancels every confirmed order (the seller cancelled the performance),
    /// refunding each, including those whose payment was under way when sales stopped.
    /// Returns how many were cancelled; a store failure stops it with the rest untouched.
    pub async fn cancel_all(&self) -> Result<usize> {
        self.claims.set_closed(true).await?;
        let mut cancelled = 0;
        loop {
            // Read before the pass: with no payment under way then, none can start (sales
            // are closed), so this pass sees every order there will be.
            let paying = self.claims.paying().await?;
            for id in self.claims.live_orders().await? {
                if let Ok(c) = self.cancel_order(None, &id).await? {
                    cancelled += usize::from(c.now);
                }
            }
            if !paying {
                return Ok(cancelled);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Stops sales for a delete, unless orders stand: then sales go on and the count of
    /// confirmed orders is the inner error.
    pub async fn close_unsold(&self) -> Result<Result<(), usize>> {
        self.claims.set_closed(true).await?;
        while self.claims.paying().await? {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Confirmed orders, which a delete must not erase.
        match self.claims.live_orders().await?.len() {
            0 => Ok(Ok(())),
            live => {
                self.claims.set_closed(false).await?;
                Ok(Err(live))
            }
        }
    }

    /// Cancels an order: `buyer` is the caller who must own it (`None`: the performance's
    /// seller). The one call that cancels it refunds it.
    async fn cancel_order(&self, buyer: Option<&str>, order_id: &str) -> Result<Result<Cancelled, SaleError>> {
        let cancelled = match self.claims.cancel(order_id, buyer).await.context("could not store a cancellation")? {
            Ok(cancelled) => cancelled,
            Err(r) => return Ok(Err(refused(r, "this order is changing"))),
        };
        if cancelled.now {
            let row = cancelled.order.row()?;
            let paid_back = row.amount.saturating_sub(Refund::total(&row.refunds));
            self.commerce.payments.refund(&format!("cancel/{order_id}"), &self.deployment, order_id, &row.charge_id, paid_back).await;
            self.sales.cancellations.inc();
            self.post(&self.notice(Kind::Refund { amount: paid_back }, &row), row.refunds.len(), now_ms()).await;
        }
        Ok(Ok(cancelled))
    }

    /// The seller refunds tickets of an order (`None`: every ticket not refunded yet): their
    /// seats go back on sale and the provider pays back what they cost, never more than is
    /// left of what was paid. The order as it now is and the refund.
    pub async fn refund(&self, order_id: &str, tickets: Option<&[String]>) -> Result<Result<(OrderRow, Refund), SaleError>> {
        let Some(row) = self.order(order_id).await? else { return Ok(Err(SaleError::NotFound)) };
        if row.status != OrderStatus::Confirmed {
            return Ok(Err(nothing_left()));
        }
        let named: Vec<&TicketRow> = match tickets {
            None => row.tickets.iter().filter(|t| !row.is_refunded(&t.seat)).collect(),
            Some(names) => {
                let mut named = Vec::with_capacity(names.len());
                for name in names {
                    let Some(ticket) = row.tickets.iter().find(|t| &t.seat == name) else {
                        return Ok(Err(SaleError::UnknownSeat(name.clone())));
                    };
                    if named.iter().any(|t: &&TicketRow| &t.seat == name) {
                        return Ok(Err(SaleError::Invalid(format!("ticket {name} named twice"))));
                    }
                    named.push(ticket);
                }
                named
            }
        };
        if named.is_empty() || named.iter().any(|t| row.is_refunded(&t.seat)) {
            return Ok(Err(nothing_left()));
        }
        let owned: Vec<TicketRow> = named.iter().map(|t| (*t).clone()).collect();
        let items = self.layout.items_of_tickets(&owned);
        let (seats, units) = self.layout.claims_of(&row.session, &items, self.per_buyer_limit);
        let request = RefundRequest {
            tickets: owned.iter().map(|t| t.seat.clone()).collect(),
            seats,
            units,
            counted: items.iter().map(Item::tickets).sum(),
            amount: owned.iter().map(|t| t.price.unwrap_or_else(|| self.layout.ticket_price(&t.seat))).sum(),
            at: now_ms(),
        };
        let refunded = match self.claims.refund(order_id, &request).await.context("could not store a refund")? {
            Ok(refunded) => refunded,
            Err(r) => return Ok(Err(refused(r, "this order is changing"))),
        };
        let n = refunded.order.refunds.len().saturating_sub(1);
        if refunded.refund.amount > 0 {
            let key = format!("refund/{order_id}/{n}");
            self.commerce.payments.refund(&key, &self.deployment, order_id, &row.charge_id, refunded.refund.amount).await;
        }
        self.post(&self.notice(Kind::Refund { amount: refunded.refund.amount }, &row), n, now_ms()).await;
        Ok(Ok((refunded.order.row()?, refunded.refund)))
    }

    fn notice(&self, kind: Kind, row: &OrderRow) -> Notice {
        Notice { kind, deployment: self.deployment.clone(), order: row.id.clone(), buyer: row.buyer.clone() }
    }

    /// Puts a notice in the outbox. The order it tells of stands whatever happens here: a
    /// store that fails now is logged, and that mail is not sent.
    async fn post(&self, notice: &Notice, n: usize, due_at: u64) {
        let Ok(body) = serde_json::to_string(notice) else { return };
        if let Err(e) = self.commerce.outbox.put(MAIL, &notice.id(n), &self.deployment, &body, now_ms(), due_at).await {
            tracing::error!(id = notice.id(n), error = format!("{e:#}"), "could not put a mail in the outbox");
        }
    }

    /// What this performance sold: each session's sections and money, and the goods every
    /// session shares; read from counts the store keeps as it sells, walking no order.
    pub async fn report(&self) -> Result<Sales> {
        let layout = &self.layout;
        let mut pools: Vec<String> = layout
            .sessions
            .iter()
            .flat_map(|session| layout.sections.iter().map(|s| Pool::Section { session, section: &s.name }.to_string()))
            .collect();
        pools.extend(layout.goods.iter().map(|g| Pool::Goods(&g.name).to_string()));
        let names: Vec<&str> = pools.iter().map(String::as_str).collect();
        let (counts, money) = tokio::try_join!(self.claims.counts(&names), self.claims.money())?;
        let count = |name: &str, capacity: u32, c: Option<&marquee_store::PoolCount>| {
            let c = c.copied().unwrap_or_default();
            Counted { name: name.to_string(), capacity, sold: c.sold, held: c.taken.saturating_sub(c.sold) }
        };
        let per_session = layout.sections.len();
        let sessions = layout
            .sessions
            .iter()
            .enumerate()
            .map(|(i, id)| SessionSales {
                id: id.clone(),
                sections: layout.sections.iter().enumerate().map(|(k, s)| count(&s.name, s.capacity(), counts.get(i * per_session + k))).collect(),
                money: money.iter().find(|(session, _)| session == id).map(|(_, m)| *m).unwrap_or_default(),
            })
            .collect();
        let goods_at = layout.sessions.len() * per_session;
        let goods = layout.goods.iter().enumerate().map(|(k, g)| count(&g.name, g.stock, counts.get(goods_at + k))).collect();
        Ok(Sales { sessions, goods })
    }

    /// A buyer's orders in this performance, oldest first.
    pub async fn orders(&self, buyer: &str) -> Result<Vec<Order>> {
        self.claims.orders_of(buyer).await?.iter().map(to_order).collect()
    }

    /// Up to `limit` orders after `after` (an order's `(created_at, id)`), as written with
    /// their status now, oldest first: the seller's list, a page at a time.
    pub async fn orders_after(&self, after: Option<(u64, &str)>, limit: usize) -> Result<Vec<OrderRow>> {
        self.claims.orders_after(after, limit).await?.iter().map(StoredOrder::row).collect()
    }

    /// A stored order, as written and with its status and refunds now.
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderRow>> {
        self.claims.order(order_id).await?.as_ref().map(StoredOrder::row).transpose()
    }

    /// Whether this performance sold a ticket for this seat in this order.
    pub async fn has_ticket(&self, order_id: &str, seat: &str) -> Result<bool> {
        Ok(self.order_with(order_id, seat).await?.is_some())
    }

    /// The order, if it has a ticket for this seat.
    async fn order_with(&self, order_id: &str, seat: &str) -> Result<Option<OrderRow>> {
        Ok(self.order(order_id).await?.filter(|row| row.tickets.iter().any(|t| t.seat == seat)))
    }

    /// Checks a ticket in at the door: `None` unless what was presented is genuine and names
    /// a ticket of an order of this performance; else the ticket and what the store decided
    /// (admitted once, then used).
    pub async fn check_in(&self, presented: Presented<'_>, door: Option<&str>) -> Result<Option<Scan>> {
        let (order, ticket) = match presented {
            Presented::Pass(text) => match self.pass_key().read(text) {
                Some(pass) => (pass.order, pass.ticket),
                None => return Ok(None),
            },
            Presented::Code { order, ticket, code } if self.commerce.signer.verify(&self.deployment, order, ticket, code) => {
                (order.to_owned(), ticket.to_owned())
            }
            Presented::Code { .. } => return Ok(None),
        };
        let Some(row) = self.order_with(&order, &ticket).await? else {
            return Ok(None);
        };
        let entry = Entry { at: now_ms(), door: door.map(str::to_string) };
        let outcome = self.claims.check_in(&order, &ticket, &entry).await?;
        Ok(Some(Scan { order, ticket, session: row.session, outcome, entry }))
    }

    /// The key this performance's passes are signed with.
    pub fn pass_key(&self) -> &PassKey {
        self.pass_key.get_or_init(|| self.commerce.signer.pass_key(&self.deployment))
    }

    /// Undoes a ticket's entry (a mistaken scan): the entry undone, if it had one.
    pub async fn undo_check_in(&self, order_id: &str, seat: &str) -> Result<Option<Entry>> {
        self.claims.undo_check_in(order_id, seat).await
    }

    /// How many tickets of each session were checked in (undone entries not counted), in the
    /// performance's order of sessions.
    pub async fn arrivals(&self) -> Result<Vec<(String, usize)>> {
        let entries = self.claims.entries().await?;
        let orders: std::collections::BTreeSet<&str> = entries.iter().map(|(order, _, _)| order.as_str()).collect();
        let rows = marquee_store::a_few_at_a_time(orders.iter().map(|order| self.order(order)).collect()).await?;
        let session_of: HashMap<&str, String> = orders.into_iter().zip(rows).filter_map(|(order, row)| Some((order, row?.session))).collect();
        let mut arrived: HashMap<&str, usize> = HashMap::new();
        for (order, _, _) in &entries {
            if let Some(session) = session_of.get(order.as_str()) {
                *arrived.entry(session.as_str()).or_default() += 1;
            }
        }
        Ok(self.layout.sessions.iter().map(|s| (s.clone(), arrived.get(s.as_str()).copied().unwrap_or(0))).collect())
    }

    /// The live entries at the door: (order, ticket) -> entry.
    pub async fn entries(&self) -> Result<HashMap<(String, String), Entry>> {
        Ok(self.claims.entries().await?.into_iter().map(|(order, ticket, entry)| ((order, ticket), entry)).collect())
    }
}

/// What a performance sold, as [`Inventory::report`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sales {
    /// Each session, in the performance's order.
    pub sessions: Vec<SessionSales>,
    /// The goods, whose stock every session shares.
    pub goods: Vec<Counted>,
}

impl Sales {
    /// Each section summed over the sessions, in the performance's order.
    pub fn sections(&self) -> Vec<Counted> {
        let mut all: Vec<Counted> = Vec::new();
        for section in self.sessions.iter().flat_map(|s| &s.sections) {
            match all.iter_mut().find(|c| c.name == section.name) {
                Some(sum) => {
                    sum.capacity += section.capacity;
                    sum.sold += section.sold;
                    sum.held += section.held;
                }
                None => all.push(section.clone()),
            }
        }
        all
    }

    /// The money of every session together.
    pub fn money(&self) -> Money {
        self.sessions.iter().fold(Money::default(), |sum, s| Money { gross: sum.gross + s.money.gross, refunded: sum.refunded + s.money.refunded })
    }
}

/// One session's sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSales {
    /// The session's id.
    pub id: String,
    /// Each section, in the performance's order.
    pub sections: Vec<Counted>,
    /// What its orders paid and what was paid back.
    pub money: Money,
}

/// A section's or goods' counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Its name.
    pub name: String,
    /// Seats, places or stock in all.
    pub capacity: u32,
    /// In confirmed orders.
    pub sold: u32,
    /// In holds not paid yet.
    pub held: u32,
}

/// A ticket as door staff present it.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// Its pass: the text of its QR code.
    Pass(&'a str),
    /// Its order, its name and its printed code, typed in.
    Code {
        /// The order's id.
        order: &'a str,
        /// The ticket's name in the order.
        ticket: &'a str,
        /// The code printed on it.
        code: &'a str,
    },
}

/// A scan at the door: the ticket it named and what the store decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The order.
    pub order: String,
    /// The ticket's name in the order.
    pub ticket: String,
    /// The session it admits to.
    pub session: String,
    /// Admitted, already used, or not confirmed.
    pub outcome: CheckIn,
    /// This scan's entry (the first one's is in `outcome` when the ticket was used before).
    pub entry: Entry,
}

/// The reason a conflict names (`<reason>: <text>`, see the WIT's `conflict`) when a buyer
/// tries to cancel an order whose ticket was used.
pub(crate) const ALREADY_USED: &str = "already_used";

fn nothing_left() -> SaleError {
    SaleError::Conflict("nothing named is left to refund".into())
}

fn closed() -> SaleError {
    SaleError::Conflict("this performance is cancelled".into())
}

/// A store's refusal as the buyer's error; `busy` says what is under way.
fn refused(refusal: Refusal, busy: &str) -> SaleError {
    match refusal {
        Refusal::NotFound => SaleError::NotFound,
        Refusal::Expired => SaleError::Expired,
        Refusal::Forbidden => SaleError::Forbidden,
        Refusal::Busy => SaleError::Conflict(busy.into()),
        Refusal::Closed => closed(),
        Refusal::Used => SaleError::Conflict(format!("{ALREADY_USED}: a ticket of this order was used at the door; only the seller can refund it")),
        Refusal::Refunded => nothing_left(),
    }
}

/// What a hold request asked for, so a key sent again can be told apart from a new request,
/// by any process.
fn fingerprint(session: &str, claim: &Claim) -> String {
    let quantities = |q: &[Quantity]| q.iter().map(|q| (q.name.clone(), q.count)).collect::<Vec<_>>();
    let canonical = serde_json::json!([session, claim.seats, quantities(&claim.sections), quantities(&claim.goods)]);
    hex::encode(&Sha256::digest(canonical.to_string().as_bytes())[..16])
}

fn to_order(order: &StoredOrder) -> Result<Order> {
    let row = order.row()?;
    Ok(order_of_row(&row, row.status))
}

fn order_of_row(row: &OrderRow, status: OrderStatus) -> Order {
    Order {
        id: row.id.clone(),
        session: row.session.clone(),
        amount: row.amount,
        status,
        tickets: row.tickets.iter().map(|t| Ticket { seat: t.seat.clone(), code: t.code.clone() }).collect(),
        created_at: row.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;

    async fn inventory() -> (marquee_store_embedded::TestDir, Inventory) {
        let dir = marquee_store_embedded::TestDir::new("inventory");
        let backend = marquee_store_embedded::open(&dir.0).unwrap();
        let commerce = Arc::new(Commerce {
            payments: crate::payments::Payments::new(
                Arc::new(crate::payments::TestProvider),
                backend.outbox.clone(),
                prometheus::IntGauge::new("pending", "pending").unwrap(),
                prometheus::IntCounter::new("failures", "failures").unwrap(),
            ),
            signer: TicketSigner::new(b"k".to_vec()),
            max_held_per_address: 3,
            outbox: backend.outbox.clone(),
        });
        let params = Templates::builtin()
            .get("seated")
            .unwrap()
            .validate(&serde_json::json!({
                "title": "t", "venue": "v",
                "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
                "sections": [{"name": "R", "price": 100, "rows": 2, "seats_per_row": 2},
                             {"name": "S", "price": 10, "capacity": 3}]
            }))
            .unwrap();
        let sales = marquee_telemetry::Metrics::default().sales("t");
        (dir, Inventory::open("d1", &params, commerce, sales, &*backend.claims).await.unwrap())
    }

    fn seats(ids: &[&str]) -> Claim {
        Claim { seats: ids.iter().map(|s| s.to_string()).collect(), sections: vec![], goods: vec![] }
    }

    #[tokio::test]
    async fn a_seat_is_held_once() {
        let (_dir, inv) = inventory().await;
        let h = inv.hold("a", "s1", &seats(&["R-1-1", "R-1-2"]), None, 10).await.unwrap().unwrap();
        assert_eq!(h.amount, 200);
        match inv.hold("b", "s1", &seats(&["R-1-2", "R-2-1"]), None, 10).await.unwrap() {
            Err(SaleError::Unavailable(u)) => assert_eq!(u, vec!["R-1-2".to_string()]),
            other => panic!("{other:?}"),
        }
        // Nothing of the failed claim stuck.
        inv.hold("b", "s1", &seats(&["R-2-1"]), None, 10).await.unwrap().unwrap();
        let a = inv.availability("s1").await.unwrap().unwrap();
        assert_eq!(a.sections[0].available, 1);
        assert_eq!(a.taken, vec!["R-1-1", "R-1-2", "R-2-1"]);
    }

    #[tokio::test]
    async fn bad_seats_and_quantities_are_refused() {
        let (_dir, inv) = inventory().await;
        for bad in ["R-0-1", "R-3-1", "R-1-3", "R-01-1", "S-1-1", "X-1-1", "R1", ""] {
            assert!(matches!(inv.hold("a", "s1", &seats(&[bad]), None, 10).await.unwrap(), Err(SaleError::UnknownSeat(_))), "{bad}");
        }
        let q = |n| Claim { seats: vec![], sections: vec![Quantity { name: "S".into(), count: n }], goods: vec![] };
        assert!(matches!(inv.hold("a", "s1", &q(4), None, 10).await.unwrap(), Err(SaleError::Unavailable(_))));
        assert!(matches!(inv.hold("a", "s1", &q(0), None, 10).await.unwrap(), Err(SaleError::Invalid(_))));
        assert!(matches!(inv.hold("a", "s2", &q(1), None, 10).await.unwrap(), Err(SaleError::UnknownSession)));
        inv.hold("a", "s1", &q(3), None, 10).await.unwrap().unwrap();
        assert_eq!(inv.availability("s1").await.unwrap().unwrap().sections[1].available, 0);
    }

    #[tokio::test]
    async fn idempotency_and_limits() {
        let (_dir, inv) = inventory().await;
        let first = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 2).await.unwrap().unwrap();
        let again = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 2).await.unwrap().unwrap();
        assert_eq!(first.id, again.id);
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2", "R-2-1"]), None, 2).await.unwrap(), Err(SaleError::OverLimit(2))));
    }

    #[tokio::test]
    async fn a_key_sent_with_another_claim_is_refused() {
        let (_dir, inv) = inventory().await;
        let first = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 4).await.unwrap().unwrap();
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2"]), Some("k1"), 4).await.unwrap(), Err(SaleError::IdempotencyKeyReused)));
        // The key is the buyer's: another buyer's k1 is another request.
        assert_ne!(inv.hold("b", "s1", &seats(&["R-1-2"]), Some("k1"), 4).await.unwrap().unwrap().id, first.id);
        assert_eq!(inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 4).await.unwrap().unwrap().id, first.id);
        // A refused request leaves its key unused.
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2"]), Some("k2"), 4).await.unwrap(), Err(SaleError::Unavailable(_))));
        inv.hold("a", "s1", &seats(&["R-2-1"]), Some("k2"), 4).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn one_address_holds_a_bounded_number_of_unpaid_seats() {
        let (_dir, inv) = inventory().await;
        let address = Some("192.0.2.7".parse().unwrap());
        let from = |buyer| Holder { buyer, address };
        let h = inv.hold(from("a"), "s1", &seats(&["R-1-1", "R-1-2"]), None, 10).await.unwrap().unwrap();
        inv.hold(from("b"), "s1", &seats(&["R-2-1"]), None, 10).await.unwrap().unwrap();
        // A third account from the same address is refused; another address is not.
        assert!(matches!(inv.hold(from("c"), "s1", &seats(&["R-2-2"]), None, 10).await.unwrap(), Err(SaleError::AddressLimit(3))));
        inv.hold(Holder { buyer: "c", address: Some("192.0.2.8".parse().unwrap()) }, "s1", &seats(&["R-2-2"]), None, 10).await.unwrap().unwrap();
        inv.release("a", &h.id).await.unwrap().unwrap();
        let q = Claim { seats: vec![], sections: vec![Quantity { name: "S".into(), count: 2 }], goods: vec![] };
        inv.hold(from("c"), "s1", &q, None, 10).await.unwrap().unwrap();
    }

    #[test]
    fn ticket_codes_verify() {
        let signer = TicketSigner::new(b"secret".to_vec());
        let code = signer.code("d", "o1", "R-1-1");
        assert!(signer.verify("d", "o1", "R-1-1", &code));
        assert!(!signer.verify("d", "o1", "R-1-2", &code));
        assert!(!TicketSigner::new(b"other".to_vec()).verify("d", "o1", "R-1-1", &code));
    }

    #[tokio::test]
    async fn a_confirmed_order_puts_its_mail_in_the_outbox_and_a_refund_and_a_cancel_theirs() {
        let (_dir, inv) = inventory().await;
        let card = r#"{"card":"4242424242424242"}"#;
        let hold = inv.hold("a", "s1", &seats(&["R-1-1", "R-1-2"]), None, 10).await.unwrap().unwrap();
        let order = inv.confirm("a", &hold.id, card).await.unwrap().unwrap();
        inv.refund(&order.id, Some(&["R-1-1".to_string()])).await.unwrap().unwrap();
        inv.cancel("a", &order.id).await.unwrap().unwrap();
        let outbox = inv.commerce.outbox.recent("d1", 10).await.unwrap();
        let mut put: Vec<(String, u64)> = outbox.iter().map(|m| (m.id.replace(&order.id, "O"), m.due_at)).collect();
        put.sort();
        let starts = 1_803_927_600_000; // 2027-03-01T19:00:00Z
        let ids: Vec<&str> = put.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["confirmation/O", "refund/O/0", "refund/O/1"], "a reminder is put once the confirmation goes out");
        assert!(put[0].1 < starts, "the confirmation is due at once");
        let bodies: Vec<Notice> = outbox.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect();
        let refunded: Vec<u64> = bodies.iter().filter_map(|n| if let Kind::Refund { amount } = n.kind { Some(amount) } else { None }).collect();
        assert_eq!(refunded.iter().sum::<u64>(), 200, "the refund and the cancel pay back the order once: {refunded:?}");
    }
}
