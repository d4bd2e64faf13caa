//! The inventory of one performance: which seats and units are held or sold, per session.
//!
//! Only claims are stored (a 50,000-seat map costs nothing until seats are held), and each
//! session has its own lock, held only for the in-memory check-and-claim; payment and the
//! durable write of an order happen outside it. The invariant of the public contract lives
//! here, so no component, built-in or uploaded, can sell a seat twice.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Result;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::random_hex;
use crate::clock::now_ms;
use crate::bindings::inventory::{
    Claim, Error, HoldReceipt, Order, Quantity, SectionAvailability, SessionAvailability, Ticket,
};
use crate::orders::{OrderRow, OrderStatus, OrderStore, Record, TicketRow};
use crate::metrics::SalesMetrics;
use crate::payments::{Charge, PaymentProvider};
use crate::templates::PerformanceParams;

/// How long a released or expired hold is remembered, so confirming it says 410 rather than
/// 404, in multiples of the hold TTL.
const TOMBSTONE_TTLS: u64 = 4;

/// Signs ticket codes so check-in can verify them without a lookup, and no one can guess one.
pub struct TicketSigner {
    key: Vec<u8>,
}

impl TicketSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
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

/// What every performance's inventory shares: the order log, the payment provider, the
/// ticket signer.
pub struct Commerce {
    pub log: Arc<dyn OrderStore>,
    pub payments: Arc<dyn PaymentProvider>,
    pub signer: TicketSigner,
    /// Most seats or units one client address may hold unpaid in a session (0: no cap).
    pub max_held_per_address: u32,
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
}

/// How many tickets a list of items holds.
fn tickets(items: &[Item]) -> u32 {
    items.iter().map(Item::tickets).sum()
}

struct Hold {
    buyer: String,
    /// The client address it was made from, whose unpaid seats are capped.
    address: Option<IpAddr>,
    items: Vec<Item>,
    amount: u64,
    expires_at: u64,
    /// A confirm is paying for it: expiry must wait.
    confirming: bool,
}

struct OrderState {
    row: OrderRow,
    items: Vec<Item>,
}

#[derive(Default)]
struct SessionState {
    /// Numbered seat -> the hold or order that has it.
    seats: HashMap<String, String>,
    /// Per section: seats or units held or sold.
    taken: Vec<u32>,
    holds: HashMap<String, Hold>,
    expiries: BTreeSet<(u64, String)>,
    /// Ended holds (released or expired) and when to forget them.
    ended: HashMap<String, u64>,
    orders: HashMap<String, OrderState>,
    /// Hold id -> order id, so a retried confirm returns the same order.
    confirmed: HashMap<String, String>,
    /// Buyer -> seats or units held or bought.
    per_buyer: HashMap<String, u32>,
    /// Client address -> seats or units in its unpaid holds, over every account it uses.
    held_by_address: HashMap<IpAddr, u32>,
}

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

/// What an idempotency key was first used for: the request's fingerprint and its hold.
struct KeyUse {
    fingerprint: u64,
    hold_id: String,
}

/// The inventory of one deployed performance.
pub struct Inventory {
    deployment: String,
    hold_ttl_ms: u64,
    sections: Vec<SectionDef>,
    section_index: HashMap<String, usize>,
    goods: Vec<GoodsDef>,
    goods_index: HashMap<String, usize>,
    /// Per goods: units held or sold. Locked after a session's lock, never before.
    goods_taken: Mutex<Vec<u32>>,
    /// (buyer, idempotency key) -> its first use, across sessions, so a key sent again with
    /// another body is refused rather than answered with the first hold. Locked after a
    /// session's lock, never before.
    keys: Mutex<HashMap<(String, String), KeyUse>>,
    session_index: HashMap<String, usize>,
    sessions: Vec<(String, Mutex<SessionState>)>,
    commerce: Arc<Commerce>,
    sales: SalesMetrics,
    /// Set when the performance is cancelled: no new hold or payment starts.
    closed: std::sync::atomic::AtomicBool,
}

/// Ids carry their session's index, so a call finds its session without a global map.
fn new_id(prefix: char, session: usize) -> String {
    format!("{prefix}{session}_{}", random_hex(12))
}

fn session_of(id: &str, prefix: char) -> Option<usize> {
    id.strip_prefix(prefix)?.split_once('_')?.0.parse().ok()
}

impl Inventory {
    /// An empty inventory; `orders` are the deployment's stored orders, replayed in order.
    pub fn new(
        deployment: &str,
        params: &PerformanceParams,
        commerce: Arc<Commerce>,
        sales: SalesMetrics,
        orders: Vec<OrderRow>,
    ) -> Self {
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
            params.goods.iter().map(|g| GoodsDef { name: g.name.clone(), price: g.price as u64, stock: g.stock }).collect();
        let goods_index = goods.iter().enumerate().map(|(i, g)| (g.name.clone(), i)).collect();
        let goods_taken = Mutex::new(vec![0; goods.len()]);
        let session_index = params.sessions.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let sessions = params
            .sessions
            .iter()
            .map(|s| {
                let state = SessionState { taken: vec![0; sections.len()], ..Default::default() };
                (s.id.clone(), Mutex::new(state))
            })
            .collect();
        let inventory = Self {
            deployment: deployment.to_string(),
            hold_ttl_ms: u64::from(params.hold_ttl_seconds) * 1000,
            sections,
            section_index,
            goods,
            goods_index,
            goods_taken,
            keys: Mutex::default(),
            session_index,
            sessions,
            commerce,
            sales,
            closed: Default::default(),
        };
        for row in orders {
            inventory.restore(row);
        }
        inventory
    }

    fn restore(&self, row: OrderRow) {
        let Some(&index) = self.session_index.get(&row.session) else { return };
        let items: Vec<Item> = self.items_of_tickets(&row.tickets);
        let mut s = self.lock(index);
        if row.status == OrderStatus::Confirmed {
            let mut goods = self.goods_taken();
            for item in &items {
                s.take(item, &row.id, &mut goods);
            }
            *s.per_buyer.entry(row.buyer.clone()).or_default() += tickets(&items);
        }
        s.confirmed.insert(row.hold_id.clone(), row.id.clone());
        s.orders.insert(row.id.clone(), OrderState { row, items });
    }

    /// Rebuilds the items of an order from its ticket names.
    fn items_of_tickets(&self, tickets: &[TicketRow]) -> Vec<Item> {
        let mut units: HashMap<usize, u32> = HashMap::new();
        let mut goods: HashMap<usize, u32> = HashMap::new();
        let mut items = Vec::new();
        for t in tickets {
            if let Some(name) = t.seat.strip_prefix("goods/").and_then(|g| g.split_once('#')).map(|(n, _)| n) {
                if let Some(&i) = self.goods_index.get(name) {
                    *goods.entry(i).or_default() += 1;
                }
            } else if let Some((section, _)) = t.seat.split_once('#') {
                if let Some(&i) = self.section_index.get(section) {
                    *units.entry(i).or_default() += 1;
                }
            } else if let Ok(Item::Seat { section, seat }) = self.parse_seat(&t.seat) {
                items.push(Item::Seat { section, seat });
            }
        }
        items.extend(units.into_iter().map(|(section, quantity)| Item::Units { section, quantity }));
        items.extend(goods.into_iter().map(|(goods, quantity)| Item::Goods { goods, quantity }));
        items
    }

    /// The names of the tickets an item becomes (`R-1-2`, `S#1`, `goods/SHIRT#1`, ...).
    fn ticket_names(&self, item: &Item) -> Vec<String> {
        match item {
            Item::Seat { seat, .. } => vec![seat.clone()],
            Item::Units { section, quantity } => {
                (1..=*quantity).map(|n| format!("{}#{n}", self.sections[*section].name)).collect()
            }
            Item::Goods { goods, quantity } => {
                (1..=*quantity).map(|n| format!("goods/{}#{n}", self.goods[*goods].name)).collect()
            }
        }
    }

    fn price(&self, item: &Item) -> u64 {
        match item {
            Item::Seat { section, .. } => self.sections[*section].price,
            Item::Units { section, quantity } => self.sections[*section].price * u64::from(*quantity),
            Item::Goods { goods, quantity } => self.goods[*goods].price * u64::from(*quantity),
        }
    }

    fn goods_taken(&self) -> MutexGuard<'_, Vec<u32>> {
        self.goods_taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, SessionState> {
        self.sessions[index].1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks a session with its expired holds ended.
    fn swept(&self, index: usize) -> MutexGuard<'_, SessionState> {
        let mut state = self.lock(index);
        state.sweep(now_ms(), self.hold_ttl_ms, &mut self.goods_taken(), index, &self.keys);
        state
    }

    fn session(&self, session: &str) -> Result<(usize, MutexGuard<'_, SessionState>), Error> {
        let &index = self.session_index.get(session).ok_or(Error::UnknownSession)?;
        Ok((index, self.swept(index)))
    }

    fn session_by_id(&self, id: &str, prefix: char) -> Result<(usize, MutexGuard<'_, SessionState>), Error> {
        let index = session_of(id, prefix).filter(|i| *i < self.sessions.len()).ok_or(Error::NotFound)?;
        Ok((index, self.swept(index)))
    }

    /// Parses and checks a seat id such as `R-3-12`; only the canonical spelling is accepted,
    /// so one seat has one id.
    fn parse_seat(&self, id: &str) -> Result<Item, Error> {
        let unknown = || Error::UnknownSeat(id.to_string());
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

    fn items_of_claim(&self, claim: &Claim) -> Result<Vec<Item>, Error> {
        let mut items = Vec::with_capacity(claim.seats.len() + claim.sections.len() + claim.goods.len());
        for seat in &claim.seats {
            let item = self.parse_seat(seat)?;
            if items.iter().any(|i: &Item| matches!(i, Item::Seat { seat: s, .. } if s == seat)) {
                return Err(Error::Invalid(format!("seat {seat} asked for twice")));
            }
            items.push(item);
        }
        for q in &claim.sections {
            let &section =
                self.section_index.get(&q.name).ok_or_else(|| Error::Invalid(format!("no section {:?}", q.name)))?;
            if !matches!(self.sections[section].kind, SectionKind::General { .. }) {
                return Err(Error::Invalid(format!("section {} has numbered seats: ask for seats", q.name)));
            }
            if q.count == 0 || items.iter().any(|i| matches!(i, Item::Units { section: s, .. } if *s == section)) {
                return Err(Error::Invalid(format!("ask for section {} once, with a quantity of 1 or more", q.name)));
            }
            items.push(Item::Units { section, quantity: q.count });
        }
        for q in &claim.goods {
            let &goods = self.goods_index.get(&q.name).ok_or_else(|| Error::Invalid(format!("no goods {:?}", q.name)))?;
            if q.count == 0 || items.iter().any(|i| matches!(i, Item::Goods { goods: g, .. } if *g == goods)) {
                return Err(Error::Invalid(format!("ask for goods {} once, with a quantity of 1 or more", q.name)));
            }
            items.push(Item::Goods { goods, quantity: q.count });
        }
        if items.is_empty() {
            return Err(Error::Invalid("nothing asked for".into()));
        }
        Ok(items)
    }

    pub fn availability(&self, session: &str) -> Result<SessionAvailability, Error> {
        let (_, s) = self.session(session)?;
        let sections = self
            .sections
            .iter()
            .zip(&s.taken)
            .map(|(def, taken)| SectionAvailability {
                name: def.name.clone(),
                capacity: def.capacity(),
                available: def.capacity() - taken,
            })
            .collect();
        let mut taken: Vec<String> = s.seats.keys().cloned().collect();
        drop(s);
        taken.sort_unstable();
        let goods = self
            .goods
            .iter()
            .zip(self.goods_taken().iter())
            .map(|(def, taken)| SectionAvailability { name: def.name.clone(), capacity: def.stock, available: def.stock - taken })
            .collect();
        Ok(SessionAvailability { sections, taken, goods })
    }

    /// Claims everything in `claim` for the holder, or nothing.
    pub fn hold<'a>(
        &self,
        holder: impl Into<Holder<'a>>,
        session: &str,
        claim: &Claim,
        idempotency_key: Option<&str>,
        per_buyer_limit: u32,
    ) -> Result<HoldReceipt, Error> {
        let holder = holder.into();
        let buyer = holder.buyer;
        let items = self.items_of_claim(claim)?;
        let (index, mut s) = self.session(session)?;
        if self.is_closed() {
            return Err(Error::Conflict("this performance is cancelled".into()));
        }
        let key = idempotency_key.map(|k| (buyer.to_string(), k.to_string()));
        let id = new_id('h', index);
        if let Some(key) = &key {
            let fingerprint = fingerprint(session, claim);
            let mut keys = self.keys();
            match keys.get(key) {
                Some(first) if first.fingerprint != fingerprint => return Err(Error::IdempotencyKeyReused),
                Some(first) => {
                    return match s.holds.get(&first.hold_id) {
                        Some(hold) => Ok(self.receipt(&first.hold_id, session, hold)),
                        None if s.confirmed.contains_key(&first.hold_id) => Err(Error::Conflict("this hold is already confirmed".into())),
                        None => Err(Error::Expired),
                    };
                }
                None => keys.insert(key.clone(), KeyUse { fingerprint, hold_id: id.clone() }),
            };
        }
        let claimed = self.claim(&mut s, &id, holder, session, items, per_buyer_limit);
        if claimed.is_err() {
            // A refused request did not use its key: the same request may be tried again.
            if let Some(key) = &key {
                self.keys().remove(key);
            }
        }
        claimed
    }

    fn keys(&self) -> MutexGuard<'_, HashMap<(String, String), KeyUse>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `items` for `buyer` as hold `id` in a locked session, or nothing.
    fn claim(
        &self,
        s: &mut SessionState,
        id: &str,
        holder: Holder<'_>,
        session: &str,
        items: Vec<Item>,
        per_buyer_limit: u32,
    ) -> Result<HoldReceipt, Error> {
        let Holder { buyer, address } = holder;
        let count = tickets(&items);
        let owned = s.per_buyer.get(buyer).copied().unwrap_or(0);
        if count > 0 && owned.saturating_add(count) > per_buyer_limit {
            return Err(Error::OverLimit(per_buyer_limit));
        }
        let cap = self.commerce.max_held_per_address;
        let held_here = address.and_then(|a| s.held_by_address.get(&a)).copied().unwrap_or(0);
        if cap > 0 && address.is_some() && count > 0 && held_here.saturating_add(count) > cap {
            return Err(Error::AddressLimit(cap));
        }
        let mut goods = self.goods_taken();
        let unavailable: Vec<String> = items
            .iter()
            .filter_map(|item| match item {
                Item::Seat { seat, .. } => s.seats.contains_key(seat).then(|| seat.clone()),
                Item::Units { section, quantity } => (s.taken[*section].saturating_add(*quantity)
                    > self.sections[*section].capacity())
                .then(|| self.sections[*section].name.clone()),
                Item::Goods { goods: g, quantity } => {
                    (goods[*g].saturating_add(*quantity) > self.goods[*g].stock).then(|| format!("goods/{}", self.goods[*g].name))
                }
            })
            .collect();
        if !unavailable.is_empty() {
            return Err(Error::Unavailable(unavailable));
        }
        for item in &items {
            s.take(item, id, &mut goods);
        }
        drop(goods);
        *s.per_buyer.entry(buyer.to_string()).or_default() += count;
        if let Some(address) = address {
            *s.held_by_address.entry(address).or_default() += count;
        }
        let amount = items.iter().map(|i| self.price(i)).sum();
        let expires_at = now_ms() + self.hold_ttl_ms;
        let hold = Hold { buyer: buyer.to_string(), address, items, amount, expires_at, confirming: false };
        let receipt = self.receipt(id, session, &hold);
        s.expiries.insert((expires_at, id.to_string()));
        s.holds.insert(id.to_string(), hold);
        self.sales.holds.inc();
        Ok(receipt)
    }

    fn receipt(&self, id: &str, session: &str, hold: &Hold) -> HoldReceipt {
        HoldReceipt {
            id: id.to_string(),
            session: session.to_string(),
            seats: hold.items.iter().flat_map(|i| self.ticket_names(i)).collect(),
            expires_at: hold.expires_at,
            amount: hold.amount,
        }
    }

    pub fn release(&self, buyer: &str, hold_id: &str) -> Result<(), Error> {
        let (_, mut s) = self.session_by_id(hold_id, 'h')?;
        let hold = s.holds.get(hold_id).ok_or(if s.ended.contains_key(hold_id) { Error::Expired } else { Error::NotFound })?;
        if hold.buyer != buyer {
            return Err(Error::Forbidden);
        }
        if hold.confirming {
            return Err(Error::Conflict("this hold is being confirmed".into()));
        }
        let forget_at = now_ms() + TOMBSTONE_TTLS * self.hold_ttl_ms;
        s.end_hold(hold_id, forget_at, &mut self.goods_taken());
        Ok(())
    }

    /// Pays for a hold and turns it into a durable order. The outer error is a store
    /// failure: the charge is refunded, the hold stays, and the call should trap.
    pub async fn confirm(&self, buyer: &str, hold_id: &str, payment: &str) -> Result<Result<Order, Error>> {
        let (index, amount) = {
            let (index, mut s) = match self.session_by_id(hold_id, 'h') {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            if let Some(order_id) = s.confirmed.get(hold_id) {
                let order = &s.orders[order_id];
                return Ok(if order.row.buyer == buyer { Ok(to_order(&order.row)) } else { Err(Error::Forbidden) });
            }
            let Some(hold) = s.holds.get_mut(hold_id) else {
                return Ok(Err(if s.ended.contains_key(hold_id) { Error::Expired } else { Error::NotFound }));
            };
            if hold.buyer != buyer {
                return Ok(Err(Error::Forbidden));
            }
            if hold.confirming {
                return Ok(Err(Error::Conflict("this hold is already being confirmed".into())));
            }
            if self.is_closed() {
                return Ok(Err(Error::Conflict("this performance is cancelled".into())));
            }
            hold.confirming = true;
            (index, hold.amount)
        };
        let charge_id = match self.commerce.payments.charge(hold_id, amount, payment) {
            Charge::Approved { charge_id } => charge_id,
            Charge::Declined { reason } => {
                self.unmark_confirming(index, hold_id);
                return Ok(Err(Error::PaymentDeclined(reason)));
            }
        };
        let order_id = new_id('o', index);
        let (row, items) = {
            let s = self.lock(index);
            let hold = &s.holds[hold_id];
            let tickets = hold
                .items
                .iter()
                .flat_map(|i| self.ticket_names(i))
                .map(|seat| TicketRow { code: self.commerce.signer.code(&self.deployment, &order_id, &seat), seat })
                .collect();
            let row = OrderRow {
                id: order_id.clone(),
                deployment: self.deployment.clone(),
                session: self.sessions[index].0.clone(),
                buyer: buyer.to_string(),
                hold_id: hold_id.to_string(),
                amount,
                status: OrderStatus::Confirmed,
                tickets,
                charge_id,
                created_at: now_ms(),
            };
            (row, hold.items.clone())
        };
        if let Err(e) = self.commerce.log.append(Record::Insert(row.clone())).await {
            self.commerce.payments.refund(&row.charge_id);
            self.unmark_confirming(index, hold_id);
            return Err(e.context("could not store an order; its charge was refunded"));
        }
        let mut s = self.lock(index);
        let hold = s.holds.remove(hold_id).expect("a confirming hold is never swept");
        s.expiries.remove(&(hold.expires_at, hold_id.to_string()));
        s.unhold_address(&hold);
        for item in &items {
            s.retag(item, &order_id);
        }
        s.confirmed.insert(hold_id.to_string(), order_id.clone());
        self.sales.orders.inc();
        self.sales.tickets.inc_by(row.tickets.len() as u64);
        let order = to_order(&row);
        s.orders.insert(order_id, OrderState { row, items });
        Ok(Ok(order))
    }

    fn unmark_confirming(&self, index: usize, hold_id: &str) {
        if let Some(hold) = self.lock(index).holds.get_mut(hold_id) {
            hold.confirming = false;
        }
    }

    /// Cancels a buyer's confirmed order: its seats are free again and its charge is refunded.
    pub async fn cancel(&self, buyer: &str, order_id: &str) -> Result<Result<Order, Error>> {
        self.cancel_order(Some(buyer), order_id).await
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops sales and cancels every confirmed order (the seller cancelled the performance),
    /// refunding each, including those whose payment was under way when sales stopped.
    /// Returns how many were cancelled; a store failure stops it with the rest untouched.
    pub async fn cancel_all(&self) -> Result<usize> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut cancelled = 0;
        loop {
            // Read before the pass: with no payment under way then, none can start (sales
            // are closed), so this pass sees every order there will be.
            let paying = self.paying();
            for id in self.live_order_ids() {
                if let Ok(order) = self.cancel_order(None, &id).await? {
                    cancelled += usize::from(order.status == OrderStatus::Cancelled.as_str());
                }
            }
            if !paying {
                return Ok(cancelled);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Stops sales for a delete, unless orders stand: then sales go on and the count of
    /// confirmed orders is the error.
    pub async fn close_unsold(&self) -> Result<(), usize> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        while self.paying() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Confirmed orders, which a delete must not erase.
        match self.live_order_ids().len() {
            0 => Ok(()),
            live => {
                self.closed.store(false, std::sync::atomic::Ordering::SeqCst);
                Err(live)
            }
        }
    }

    /// Whether a confirm is between its payment and its order.
    fn paying(&self) -> bool {
        (0..self.sessions.len()).any(|i| self.lock(i).holds.values().any(|h| h.confirming))
    }

    fn live_order_ids(&self) -> Vec<String> {
        (0..self.sessions.len())
            .flat_map(|i| {
                let s = self.lock(i);
                s.orders.values().filter(|o| o.row.status == OrderStatus::Confirmed).map(|o| o.row.id.clone()).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Cancels an order: `buyer` is the caller who must own it (`None`: the performance's
    /// seller). Durable first: a crash after the log write restores the order as cancelled.
    async fn cancel_order(&self, buyer: Option<&str>, order_id: &str) -> Result<Result<Order, Error>> {
        let index = {
            let (index, s) = match self.session_by_id(order_id, 'o') {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            let Some(order) = s.orders.get(order_id) else { return Ok(Err(Error::NotFound)) };
            if buyer.is_some_and(|b| order.row.buyer != b) {
                return Ok(Err(Error::Forbidden));
            }
            if order.row.status != OrderStatus::Confirmed {
                return Ok(Ok(to_order(&order.row)));
            }
            index
        };
        self.commerce
            .log
            .append(Record::Status { id: order_id.to_string(), status: OrderStatus::Cancelled })
            .await
            .map_err(|e| e.context("could not store a cancellation"))?;
        let mut s = self.lock(index);
        let s = &mut *s;
        let order = s.orders.get_mut(order_id).expect("orders are never removed");
        if order.row.status == OrderStatus::Confirmed {
            order.row.status = OrderStatus::Cancelled;
            let mut goods = self.goods_taken.lock().unwrap_or_else(|e| e.into_inner());
            for item in &order.items {
                free(&mut s.taken, &mut s.seats, &mut goods, item);
            }
            if let Some(n) = s.per_buyer.get_mut(&order.row.buyer) {
                *n = n.saturating_sub(tickets(&order.items));
            }
            self.commerce.payments.refund(&order.row.charge_id);
            self.sales.cancellations.inc();
        }
        Ok(Ok(to_order(&order.row)))
    }

    /// A buyer's orders in this performance, oldest first.
    pub fn orders(&self, buyer: &str) -> Vec<Order> {
        let mut out: Vec<&OrderRow> = Vec::new();
        let guards: Vec<_> = (0..self.sessions.len()).map(|i| self.lock(i)).collect();
        for s in &guards {
            out.extend(s.orders.values().map(|o| &o.row).filter(|r| r.buyer == buyer));
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out.into_iter().map(to_order).collect()
    }

    /// Per section: (name, capacity, held, sold), summed over sessions.
    pub fn sales(&self) -> Vec<(String, u64, u64, u64)> {
        let mut out: Vec<(String, u64, u64, u64)> = self.sections.iter().map(|s| (s.name.clone(), 0, 0, 0)).collect();
        for i in 0..self.sessions.len() {
            let s = self.swept(i);
            let mut sold = vec![0u64; self.sections.len()];
            for o in s.orders.values().filter(|o| o.row.status == OrderStatus::Confirmed) {
                for item in &o.items {
                    match item {
                        Item::Seat { section, .. } => sold[*section] += 1,
                        Item::Units { section, quantity } => sold[*section] += u64::from(*quantity),
                        Item::Goods { .. } => {}
                    }
                }
            }
            for (k, def) in self.sections.iter().enumerate() {
                out[k].1 += u64::from(def.capacity());
                out[k].3 += sold[k];
                out[k].2 += u64::from(s.taken[k]) - sold[k];
            }
        }
        out
    }

    /// Whether this performance sold a ticket for this seat in this order.
    pub fn has_ticket(&self, order_id: &str, seat: &str) -> bool {
        let Ok((_, s)) = self.session_by_id(order_id, 'o') else { return false };
        s.orders.get(order_id).is_some_and(|o| o.row.tickets.iter().any(|t| t.seat == seat))
    }

    /// Check-in: the status of the order a ticket belongs to, if its code is genuine.
    pub fn check_ticket(&self, order_id: &str, seat: &str, code: &str) -> Option<OrderStatus> {
        if !self.commerce.signer.verify(&self.deployment, order_id, seat, code) {
            return None;
        }
        let (_, s) = self.session_by_id(order_id, 'o').ok()?;
        let order = s.orders.get(order_id)?;
        order.row.tickets.iter().any(|t| t.seat == seat).then_some(order.row.status)
    }
}

/// What a hold request asked for, so a key sent again can be told apart from a new request.
fn fingerprint(session: &str, claim: &Claim) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    session.hash(&mut h);
    claim.seats.hash(&mut h);
    for q in claim.sections.iter().chain(std::iter::once(&Quantity { name: String::new(), count: 0 })).chain(&claim.goods) {
        (&q.name, q.count).hash(&mut h);
    }
    h.finish()
}

fn to_order(row: &OrderRow) -> Order {
    Order {
        id: row.id.clone(),
        session: row.session.clone(),
        amount: row.amount,
        status: row.status.as_str().into(),
        tickets: row.tickets.iter().map(|t| Ticket { seat: t.seat.clone(), code: t.code.clone() }).collect(),
        created_at: row.created_at,
    }
}

/// Gives back what an item took.
fn free(taken: &mut [u32], seats: &mut HashMap<String, String>, goods: &mut [u32], item: &Item) {
    match item {
        Item::Seat { section, seat } => {
            taken[*section] -= 1;
            seats.remove(seat);
        }
        Item::Units { section, quantity } => taken[*section] -= quantity,
        Item::Goods { goods: g, quantity } => goods[*g] -= quantity,
    }
}

impl SessionState {
    fn take(&mut self, item: &Item, owner: &str, goods: &mut [u32]) {
        match item {
            Item::Seat { section, seat } => {
                self.taken[*section] += 1;
                self.seats.insert(seat.clone(), owner.to_string());
            }
            Item::Units { section, quantity } => self.taken[*section] += quantity,
            Item::Goods { goods: g, quantity } => goods[*g] += quantity,
        }
    }

    fn retag(&mut self, item: &Item, owner: &str) {
        if let Item::Seat { seat, .. } = item {
            self.seats.insert(seat.clone(), owner.to_string());
        }
    }

    /// Frees a hold's claims and remembers that it ended until `forget_at`.
    fn end_hold(&mut self, id: &str, forget_at: u64, goods: &mut [u32]) {
        let Some(hold) = self.holds.remove(id) else { return };
        self.expiries.remove(&(hold.expires_at, id.to_string()));
        for item in &hold.items {
            free(&mut self.taken, &mut self.seats, goods, item);
        }
        if let Some(n) = self.per_buyer.get_mut(&hold.buyer) {
            *n = n.saturating_sub(tickets(&hold.items));
        }
        self.unhold_address(&hold);
        self.ended.insert(id.to_string(), forget_at);
    }

    /// A hold is paid or ended: its seats no longer count against its address.
    fn unhold_address(&mut self, hold: &Hold) {
        let Some(address) = hold.address else { return };
        if let Some(n) = self.held_by_address.get_mut(&address) {
            *n = n.saturating_sub(tickets(&hold.items));
            if *n == 0 {
                self.held_by_address.remove(&address);
            }
        }
    }

    /// Ends every hold past its expiry (except those being paid for) and forgets old ends.
    /// Keys of this session (`index`) whose hold is forgotten are forgotten with it.
    fn sweep(&mut self, now: u64, ttl_ms: u64, goods: &mut [u32], index: usize, keys: &Mutex<HashMap<(String, String), KeyUse>>) {
        while let Some((expires_at, id)) = self.expiries.first().cloned() {
            if expires_at > now {
                break;
            }
            if self.holds.get(&id).is_some_and(|h| h.confirming) {
                // Its confirm finishes or gives it back; look again on the next sweep.
                self.expiries.remove(&(expires_at, id.clone()));
                self.expiries.insert((now + 1000, id));
                continue;
            }
            self.end_hold(&id, now + TOMBSTONE_TTLS * ttl_ms, goods);
        }
        if self.ended.len() > 1024 {
            self.ended.retain(|_, forget_at| *forget_at > now);
            let (holds, ended, confirmed) = (&self.holds, &self.ended, &self.confirmed);
            keys.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, k| {
                let id = &k.hold_id;
                session_of(id, 'h') != Some(index) || holds.contains_key(id) || ended.contains_key(id) || confirmed.contains_key(id)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;

    fn inventory() -> (std::path::PathBuf, Inventory) {
        let dir = std::env::temp_dir().join(format!("marquee-inv-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let db = crate::db::Db::open(&dir.join("m.db")).unwrap();
        drop(db);
        let commerce = Arc::new(Commerce {
            log: Arc::new(crate::orders::SqliteOrderLog::open(&dir.join("m.db")).unwrap()),
            payments: Arc::new(crate::payments::TestProvider::default()),
            signer: TicketSigner::new(b"k".to_vec()),
            max_held_per_address: 3,
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
        let sales = crate::metrics::Metrics::default().sales("t");
        (dir.clone(), Inventory::new("d1", &params, commerce, sales, Vec::new()))
    }

    fn seats(ids: &[&str]) -> Claim {
        Claim { seats: ids.iter().map(|s| s.to_string()).collect(), sections: vec![], goods: vec![] }
    }

    #[test]
    fn a_seat_is_held_once() {
        let (_dir, inv) = inventory();
        let h = inv.hold("a", "s1", &seats(&["R-1-1", "R-1-2"]), None, 10).unwrap();
        assert_eq!(h.amount, 200);
        match inv.hold("b", "s1", &seats(&["R-1-2", "R-2-1"]), None, 10) {
            Err(Error::Unavailable(u)) => assert_eq!(u, vec!["R-1-2".to_string()]),
            other => panic!("{other:?}"),
        }
        // Nothing of the failed claim stuck.
        inv.hold("b", "s1", &seats(&["R-2-1"]), None, 10).unwrap();
        let a = inv.availability("s1").unwrap();
        assert_eq!(a.sections[0].available, 1);
        assert_eq!(a.taken, vec!["R-1-1", "R-1-2", "R-2-1"]);
    }

    #[test]
    fn bad_seats_and_quantities_are_refused() {
        let (_dir, inv) = inventory();
        for bad in ["R-0-1", "R-3-1", "R-1-3", "R-01-1", "S-1-1", "X-1-1", "R1", ""] {
            assert!(matches!(inv.hold("a", "s1", &seats(&[bad]), None, 10), Err(Error::UnknownSeat(_))), "{bad}");
        }
        let q = |n| Claim { seats: vec![], sections: vec![Quantity { name: "S".into(), count: n }], goods: vec![] };
        assert!(matches!(inv.hold("a", "s1", &q(4), None, 10), Err(Error::Unavailable(_))));
        assert!(matches!(inv.hold("a", "s1", &q(0), None, 10), Err(Error::Invalid(_))));
        assert!(matches!(inv.hold("a", "s2", &q(1), None, 10), Err(Error::UnknownSession)));
        inv.hold("a", "s1", &q(3), None, 10).unwrap();
        assert_eq!(inv.availability("s1").unwrap().sections[1].available, 0);
    }

    #[test]
    fn idempotency_and_limits() {
        let (_dir, inv) = inventory();
        let first = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 2).unwrap();
        let again = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 2).unwrap();
        assert_eq!(first.id, again.id);
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2", "R-2-1"]), None, 2), Err(Error::OverLimit(2))));
    }

    #[test]
    fn a_key_sent_with_another_claim_is_refused() {
        let (_dir, inv) = inventory();
        let first = inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 4).unwrap();
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2"]), Some("k1"), 4), Err(Error::IdempotencyKeyReused)));
        // The key is the buyer's: another buyer's k1 is another request.
        assert_ne!(inv.hold("b", "s1", &seats(&["R-1-2"]), Some("k1"), 4).unwrap().id, first.id);
        assert_eq!(inv.hold("a", "s1", &seats(&["R-1-1"]), Some("k1"), 4).unwrap().id, first.id);
        // A refused request leaves its key unused.
        assert!(matches!(inv.hold("a", "s1", &seats(&["R-1-2"]), Some("k2"), 4), Err(Error::Unavailable(_))));
        inv.hold("a", "s1", &seats(&["R-2-1"]), Some("k2"), 4).unwrap();
    }

    #[test]
    fn one_address_holds_a_bounded_number_of_unpaid_seats() {
        let (_dir, inv) = inventory();
        let address = Some("192.0.2.7".parse().unwrap());
        let from = |buyer| Holder { buyer, address };
        let h = inv.hold(from("a"), "s1", &seats(&["R-1-1", "R-1-2"]), None, 10).unwrap();
        inv.hold(from("b"), "s1", &seats(&["R-2-1"]), None, 10).unwrap();
        // A third account from the same address is refused; another address is not.
        assert!(matches!(inv.hold(from("c"), "s1", &seats(&["R-2-2"]), None, 10), Err(Error::AddressLimit(3))));
        inv.hold(Holder { buyer: "c", address: Some("192.0.2.8".parse().unwrap()) }, "s1", &seats(&["R-2-2"]), None, 10).unwrap();
        inv.release("a", &h.id).unwrap();
        let q = Claim { seats: vec![], sections: vec![Quantity { name: "S".into(), count: 2 }], goods: vec![] };
        inv.hold(from("c"), "s1", &q, None, 10).unwrap();
    }

    #[test]
    fn ticket_codes_verify() {
        let signer = TicketSigner::new(b"secret".to_vec());
        let code = signer.code("d", "o1", "R-1-1");
        assert!(signer.verify("d", "o1", "R-1-1", &code));
        assert!(!signer.verify("d", "o1", "R-1-2", &code));
        assert!(!TicketSigner::new(b"other".to_vec()).verify("d", "o1", "R-1-1", &code));
    }
}
