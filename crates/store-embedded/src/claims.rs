//! The embedded claim store: one performance's claims in this process's memory, its orders
//! in the SQLite order log. An order or a cancellation is on disk before the call answers
//! and is replayed at start ([`EmbeddedClaims::restore`]); holds are not written, since a
//! restart ends them anyway. The same steps as the Redis backend's script, under one lock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Result;
use marquee_store::{
    BoxFuture, Cancelled, CheckIn, ClaimStore, ConfirmStart, Confirming, Entry, Held, HoldOutcome, HoldRequest, Money, OrderStatus,
    PoolCount, Refund, RefundRequest, Refunded, Refusal, Restored, StoredOrder, Taken, Units,
};

use marquee_store::clock::now_ms;
use crate::orders::{OrderRow, OrderStore, Record};

/// How long a released or expired hold is remembered (410 rather than 404), in hold TTLs.
const TOMBSTONE_TTLS: u64 = 4;
/// How often a hold whose order is being written looks again for its end.
const COMMIT_RECHECK_MS: u64 = 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Payment {
    None,
    /// A confirm is paying; past the lease the hold is swept.
    Leased,
    /// Its order is being written to the log: it must not be swept.
    Committing,
}

struct Hold {
    session: String,
    buyer: String,
    address: Option<String>,
    seats: Vec<String>,
    units: Vec<Units>,
    tickets: u32,
    /// Items counted toward its address's unpaid cap.
    unpaid: u32,
    amount: u64,
    expires_at: u64,
    /// When the sweep ends it: its expiry, or the end of its payment's lease.
    due: u64,
    payload: String,
    payment: Payment,
}

struct Order {
    stored: StoredOrder,
    session: String,
    /// What it still claims (a refund of some tickets gives theirs back).
    seats: Vec<String>,
    units: Vec<Units>,
    tickets: u32,
    /// What its buyer paid.
    amount: u64,
}

impl Order {
    /// What was paid back by the seller's refunds.
    fn paid_back(&self) -> u64 {
        Refund::total(&self.stored.refunds)
    }

    fn is_refunded(&self, ticket: &str) -> bool {
        Refund::covers(&self.stored.refunds, ticket)
    }
}

/// What an idempotency key was first used for.
struct KeyUse {
    fingerprint: String,
    hold_id: String,
}

#[derive(Default)]
struct State {
    /// Session -> seat -> the hold or order that has it.
    seats: HashMap<String, HashMap<String, String>>,
    /// Pool -> units held or sold; and of those, sold.
    taken: HashMap<String, u32>,
    sold: HashMap<String, u32>,
    holds: HashMap<String, Hold>,
    due: BTreeSet<(u64, String)>,
    /// Ended holds and when to forget them.
    ended: HashMap<String, u64>,
    keys: HashMap<(String, String), KeyUse>,
    /// Hold -> its order.
    confirmed: HashMap<String, String>,
    orders: HashMap<String, Order>,
    /// Buyer -> orders, oldest first.
    by_buyer: HashMap<String, Vec<String>>,
    /// Every order by (created, id): the seller's list.
    by_time: BTreeSet<(u64, String)>,
    live: HashSet<String>,
    /// Buyer -> tickets held or bought.
    per_buyer: HashMap<String, u32>,
    /// (buyer, pool) -> units held or bought, for pools with a per-buyer limit.
    mine: HashMap<(String, String), u32>,
    /// (session, address) -> unpaid items.
    per_address: HashMap<(String, String), u32>,
    /// Order -> ticket -> its live entry at the door.
    entries: HashMap<String, HashMap<String, Entry>>,
    /// Session -> what its orders paid and what was paid back.
    money: HashMap<String, Money>,
    closed: bool,
}

pub(crate) struct EmbeddedClaims {
    deployment: String,
    state: Mutex<State>,
    /// Held across a cancel's, a check-in's or an undo's write to the log, so each of them
    /// decides on a state no other of them is changing: a ticket scanned while its order is
    /// being cancelled is either in before the cancel (and the buyer's cancel refused) or
    /// refused as cancelled.
    changes: tokio::sync::Mutex<()>,
    log: Arc<dyn OrderStore>,
    tombstone_ms: u64,
}

impl EmbeddedClaims {
    /// The claims of `deployment`, whose orders and entries `log` keeps.
    pub(crate) fn new(deployment: &str, log: Arc<dyn OrderStore>, hold_ttl_ms: u64) -> Self {
        Self {
            deployment: deployment.to_string(),
            state: Mutex::default(),
            changes: tokio::sync::Mutex::default(),
            log,
            tombstone_ms: (TOMBSTONE_TTLS * hold_ttl_ms).max(1000),
        }
    }

    /// Puts back a ticket's entry from the log, after its order.
    pub(crate) fn restore_entry(&self, order: &str, ticket: &str, entry: Entry) {
        self.lock().entries.entry(order.to_string()).or_default().insert(ticket.to_string(), entry);
    }

    /// Puts back an order from the log, in the order they were written.
    pub(crate) fn restore(&self, r: Restored) {
        let mut s = self.lock();
        let id = r.order.order_id.clone();
        let money = s.money.entry(r.session.clone()).or_default();
        money.gross += r.amount;
        money.refunded += match r.order.status {
            OrderStatus::Confirmed => Refund::total(&r.order.refunds),
            OrderStatus::Cancelled | OrderStatus::Refunded => r.amount,
        };
        if r.order.status == OrderStatus::Confirmed {
            s.claim(&id, &r.order.buyer, &r.session, &r.seats, &r.units);
            for u in &r.units {
                *s.sold.entry(u.pool.clone()).or_default() += u.quantity;
            }
            *s.per_buyer.entry(r.order.buyer.clone()).or_default() += r.tickets;
            s.live.insert(id.clone());
        }
        s.confirmed.insert(r.hold_id, id.clone());
        s.by_buyer.entry(r.order.buyer.clone()).or_default().push(id.clone());
        s.by_time.insert((r.created_at, id.clone()));
        let order = Order { stored: r.order, session: r.session, seats: r.seats, units: r.units, tickets: r.tickets, amount: r.amount };
        s.orders.insert(id, order);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the state with the holds that are due ended.
    fn swept(&self) -> MutexGuard<'_, State> {
        let mut s = self.lock();
        s.sweep(now_ms(), self.tombstone_ms);
        s
    }

    fn hold_now(&self, r: &HoldRequest) -> HoldOutcome {
        let mut s = self.swept();
        if s.closed {
            return HoldOutcome::Closed;
        }
        let key = r.key.as_ref().map(|(key, fingerprint)| ((r.buyer.clone(), key.clone()), fingerprint));
        if let Some((key, fingerprint)) = &key
            && let Some(first) = s.keys.get(key)
        {
            if &first.fingerprint != *fingerprint {
                return HoldOutcome::KeyReused;
            }
            return match s.holds.get(&first.hold_id) {
                Some(h) => HoldOutcome::Existing(Held { hold_id: first.hold_id.clone(), expires_at: h.expires_at, payload: h.payload.clone() }),
                None if s.confirmed.contains_key(&first.hold_id) => HoldOutcome::KeyConfirmed,
                None => HoldOutcome::Expired,
            };
        }
        let owned = s.per_buyer.get(&r.buyer).copied().unwrap_or(0);
        if r.tickets > 0 && owned.saturating_add(r.tickets) > r.buyer_limit {
            return HoldOutcome::OverLimit;
        }
        let over_own = r.units.iter().any(|u| {
            u.per_buyer > 0
                && s.mine.get(&(r.buyer.clone(), u.pool.clone())).copied().unwrap_or(0).saturating_add(u.quantity) > u.per_buyer
        });
        if over_own {
            return HoldOutcome::OverLimit;
        }
        let address = r.address.as_ref().map(|a| (r.session.clone(), a.clone()));
        if let Some(address) = &address
            && r.address_cap > 0
            && r.unpaid > 0
            && s.per_address.get(address).copied().unwrap_or(0).saturating_add(r.unpaid) > r.address_cap
        {
            return HoldOutcome::AddressLimit;
        }
        let seats = s.seats.get(&r.session);
        let mut unavailable: Vec<String> = r.seats.iter().filter(|seat| seats.is_some_and(|m| m.contains_key(*seat))).cloned().collect();
        unavailable.extend(
            r.units
                .iter()
                .filter(|u| s.taken.get(&u.pool).copied().unwrap_or(0).saturating_add(u.quantity) > u.capacity)
                .map(|u| u.pool.clone()),
        );
        if !unavailable.is_empty() {
            return HoldOutcome::Unavailable(unavailable);
        }
        s.claim(&r.hold_id, &r.buyer, &r.session, &r.seats, &r.units);
        *s.per_buyer.entry(r.buyer.clone()).or_default() += r.tickets;
        if let Some(address) = address {
            *s.per_address.entry(address).or_default() += r.unpaid;
        }
        if let Some((key, fingerprint)) = key {
            s.keys.insert(key, KeyUse { fingerprint: fingerprint.clone(), hold_id: r.hold_id.clone() });
        }
        let expires_at = now_ms() + r.ttl_ms;
        s.due.insert((expires_at, r.hold_id.clone()));
        s.holds.insert(
            r.hold_id.clone(),
            Hold {
                session: r.session.clone(),
                buyer: r.buyer.clone(),
                address: r.address.clone(),
                seats: r.seats.clone(),
                units: r.units.clone(),
                tickets: r.tickets,
                unpaid: r.unpaid,
                amount: r.amount,
                expires_at,
                due: expires_at,
                payload: r.payload.clone(),
                payment: Payment::None,
            },
        );
        HoldOutcome::Held(Held { hold_id: r.hold_id.clone(), expires_at, payload: r.payload.clone() })
    }

    fn release_now(&self, hold_id: &str, buyer: &str) -> Result<(), Refusal> {
        let mut s = self.swept();
        let hold = s.holds.get(hold_id).ok_or_else(|| s.gone(hold_id))?;
        if hold.buyer != buyer {
            return Err(Refusal::Forbidden);
        }
        if hold.payment != Payment::None {
            return Err(Refusal::Busy);
        }
        s.end_hold(hold_id, now_ms() + self.tombstone_ms);
        Ok(())
    }

    fn begin_now(&self, hold_id: &str, buyer: &str, lease_ms: u64) -> ConfirmStart {
        let mut s = self.swept();
        if let Some(order) = s.confirmed.get(hold_id) {
            let order = &s.orders[order].stored;
            return if order.buyer == buyer { ConfirmStart::Done(order.clone()) } else { ConfirmStart::Refused(Refusal::Forbidden) };
        }
        let closed = s.closed;
        let Some(hold) = s.holds.get_mut(hold_id) else { return ConfirmStart::Refused(s.gone(hold_id)) };
        if hold.buyer != buyer {
            return ConfirmStart::Refused(Refusal::Forbidden);
        }
        if hold.payment != Payment::None {
            return ConfirmStart::Refused(Refusal::Busy);
        }
        if closed {
            return ConfirmStart::Refused(Refusal::Closed);
        }
        hold.payment = Payment::Leased;
        let paying = Confirming { session: hold.session.clone(), amount: hold.amount, payload: hold.payload.clone() };
        s.reschedule(hold_id, now_ms() + lease_ms);
        ConfirmStart::Ready(paying)
    }

    async fn commit(&self, hold_id: &str, order_id: &str, created_at: u64, record: &str) -> Result<bool> {
        let row: OrderRow = serde_json::from_str(record)?;
        {
            let mut s = self.swept();
            match s.holds.get_mut(hold_id) {
                Some(hold) if hold.payment == Payment::Leased => hold.payment = Payment::Committing,
                _ => return Ok(false),
            }
        }
        if let Err(e) = self.log.append(Record::Insert(row)).await {
            if let Some(hold) = self.lock().holds.get_mut(hold_id) {
                hold.payment = Payment::Leased;
            }
            return Err(e);
        }
        let mut s = self.lock();
        let s = &mut *s;
        let hold = s.holds.remove(hold_id).expect("a hold whose order is being written is never swept");
        s.due.remove(&(hold.due, hold_id.to_string()));
        if let Some(address) = &hold.address {
            s.unhold_address(&hold.session, address, hold.unpaid);
        }
        let seats = s.seats.entry(hold.session.clone()).or_default();
        for seat in &hold.seats {
            seats.insert(seat.clone(), order_id.to_string());
        }
        for u in &hold.units {
            *s.sold.entry(u.pool.clone()).or_default() += u.quantity;
        }
        s.confirmed.insert(hold_id.to_string(), order_id.to_string());
        s.by_buyer.entry(hold.buyer.clone()).or_default().push(order_id.to_string());
        s.by_time.insert((created_at, order_id.to_string()));
        s.live.insert(order_id.to_string());
        s.money.entry(hold.session.clone()).or_default().gross += hold.amount;
        let stored =
            StoredOrder { order_id: order_id.to_string(), buyer: hold.buyer, record: record.to_string(), status: OrderStatus::Confirmed, refunds: Vec::new() };
        let order = Order { stored, session: hold.session, seats: hold.seats, units: hold.units, tickets: hold.tickets, amount: hold.amount };
        s.orders.insert(order_id.to_string(), order);
        Ok(true)
    }

    fn abort_now(&self, hold_id: &str) {
        let mut s = self.lock();
        let Some(hold) = s.holds.get_mut(hold_id) else { return };
        if hold.payment == Payment::None {
            return;
        }
        hold.payment = Payment::None;
        let expires_at = hold.expires_at;
        s.reschedule(hold_id, expires_at);
    }

    async fn cancel_order(&self, order_id: &str, buyer: Option<&str>) -> Result<Result<Cancelled, Refusal>> {
        let _changing = self.changes.lock().await;
        {
            let s = self.swept();
            let Some(order) = s.orders.get(order_id) else { return Ok(Err(Refusal::NotFound)) };
            if buyer.is_some_and(|b| order.stored.buyer != b) {
                return Ok(Err(Refusal::Forbidden));
            }
            if order.stored.status != OrderStatus::Confirmed {
                return Ok(Ok(Cancelled { order: order.stored.clone(), now: false }));
            }
            if buyer.is_some() && s.entries.get(order_id).is_some_and(|e| !e.is_empty()) {
                return Ok(Err(Refusal::Used));
            }
        }
        // Durable first: a crash after the write restores the order as cancelled.
        self.log.append(Record::Status { id: order_id.to_string(), status: OrderStatus::Cancelled }).await?;
        let mut s = self.lock();
        let s = &mut *s;
        let order = s.orders.get_mut(order_id).expect("orders are never removed");
        let now = order.stored.status == OrderStatus::Confirmed;
        if now {
            order.stored.status = OrderStatus::Cancelled;
            let order = &s.orders[order_id];
            let (session, seats, units, tickets, buyer) =
                (order.session.clone(), order.seats.clone(), order.units.clone(), order.tickets, order.stored.buyer.clone());
            let rest = order.amount.saturating_sub(order.paid_back());
            s.money.entry(session.clone()).or_default().refunded += rest;
            s.unsell(order_id, &buyer, &session, &seats, &units, tickets);
            s.live.remove(order_id);
        }
        Ok(Ok(Cancelled { order: s.orders[order_id].stored.clone(), now }))
    }

    async fn refund_tickets(&self, order_id: &str, request: &RefundRequest) -> Result<Result<Refunded, Refusal>> {
        let _changing = self.changes.lock().await;
        let (refund, freed, rest) = {
            let s = self.lock();
            let Some(order) = s.orders.get(order_id) else { return Ok(Err(Refusal::NotFound)) };
            if order.stored.status != OrderStatus::Confirmed || request.tickets.is_empty() || request.tickets.iter().any(|t| order.is_refunded(t)) {
                return Ok(Err(Refusal::Refunded));
            }
            let amount = request.amount.min(order.amount.saturating_sub(order.paid_back()));
            let refund = Refund { tickets: request.tickets.clone(), amount, at: request.at };
            // Only what the order still claims is given back.
            let seats: Vec<String> = request.seats.iter().filter(|seat| order.seats.contains(seat)).cloned().collect();
            let mut rest = order.units.clone();
            let mut units = Vec::new();
            for u in &request.units {
                if let Some(own) = rest.iter_mut().find(|own| own.pool == u.pool) {
                    let quantity = u.quantity.min(own.quantity);
                    own.quantity -= quantity;
                    units.push(Units { quantity, ..u.clone() });
                }
            }
            rest.retain(|u| u.quantity > 0);
            let remaining: Vec<String> = order.seats.iter().filter(|seat| !seats.contains(seat)).cloned().collect();
            (refund, (seats, units, request.counted.min(order.tickets)), (remaining, rest))
        };
        let (remaining_seats, remaining_units) = rest;
        let status = if remaining_seats.is_empty() && remaining_units.is_empty() { OrderStatus::Refunded } else { OrderStatus::Confirmed };
        let mut refunds = self.lock().orders[order_id].stored.refunds.clone();
        refunds.push(refund.clone());
        // Durable first: a crash after the write restores the order with this refund.
        self.log.append(Record::Refund { id: order_id.to_string(), refunds: refunds.clone(), status }).await?;
        let mut s = self.lock();
        let s = &mut *s;
        let order = s.orders.get_mut(order_id).expect("orders are never removed");
        order.stored.refunds = refunds;
        order.stored.status = status;
        order.seats = remaining_seats;
        order.units = remaining_units;
        order.tickets -= freed.2;
        let (session, buyer) = (order.session.clone(), order.stored.buyer.clone());
        s.money.entry(session.clone()).or_default().refunded += refund.amount;
        s.unsell(order_id, &buyer, &session, &freed.0, &freed.1, freed.2);
        if status == OrderStatus::Refunded {
            s.live.remove(order_id);
        }
        Ok(Ok(Refunded { order: s.orders[order_id].stored.clone(), refund }))
    }

    async fn check_in_now(&self, order_id: &str, ticket: &str, entry: &Entry) -> Result<CheckIn> {
        let _changing = self.changes.lock().await;
        {
            let s = self.lock();
            let Some(order) = s.orders.get(order_id) else { return Ok(CheckIn::NotFound) };
            if order.stored.status != OrderStatus::Confirmed {
                return Ok(CheckIn::NotConfirmed(order.stored.status));
            }
            if order.is_refunded(ticket) {
                return Ok(CheckIn::NotConfirmed(OrderStatus::Refunded));
            }
            if let Some(first) = s.entries.get(order_id).and_then(|e| e.get(ticket)) {
                return Ok(CheckIn::Used(first.clone()));
            }
        }
        let record = Record::CheckIn { deployment: self.deployment.clone(), order: order_id.into(), ticket: ticket.into(), entry: entry.clone() };
        self.log.append(record).await?;
        self.restore_entry(order_id, ticket, entry.clone());
        Ok(CheckIn::Admitted)
    }

    async fn undo_now(&self, order_id: &str, ticket: &str) -> Result<Option<Entry>> {
        let _changing = self.changes.lock().await;
        let Some(entry) = self.lock().entries.get(order_id).and_then(|e| e.get(ticket)).cloned() else { return Ok(None) };
        self.log.append(Record::Undo { order: order_id.into(), ticket: ticket.into(), at: now_ms() }).await?;
        let mut s = self.lock();
        if let Some(tickets) = s.entries.get_mut(order_id) {
            tickets.remove(ticket);
            if tickets.is_empty() {
                s.entries.remove(order_id);
            }
        }
        Ok(Some(entry))
    }
}

/// Takes `n` off a count, forgetting it at zero so the map holds only live counts.
fn count_down<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: K, n: u32) {
    if let Some(count) = counts.get_mut(&key) {
        *count = count.saturating_sub(n);
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

impl State {
    /// Claims seats and units for `owner` (a hold or an order) of `buyer`.
    fn claim(&mut self, owner: &str, buyer: &str, session: &str, seats: &[String], units: &[Units]) {
        let map = self.seats.entry(session.to_string()).or_default();
        for seat in seats {
            map.insert(seat.clone(), owner.to_string());
        }
        for u in units {
            *self.taken.entry(u.pool.clone()).or_default() += u.quantity;
            if u.per_buyer > 0 {
                *self.mine.entry((buyer.to_string(), u.pool.clone())).or_default() += u.quantity;
            }
        }
    }

    /// Gives back what a hold or an order claimed; a seat is freed only from its owner.
    fn free(&mut self, owner: &str, buyer: &str, session: &str, seats: &[String], units: &[Units]) {
        if let Some(map) = self.seats.get_mut(session) {
            for seat in seats {
                if map.get(seat).is_some_and(|o| o == owner) {
                    map.remove(seat);
                }
            }
        }
        for u in units {
            if let Some(taken) = self.taken.get_mut(&u.pool) {
                *taken = taken.saturating_sub(u.quantity);
            }
            if u.per_buyer > 0 {
                count_down(&mut self.mine, (buyer.to_string(), u.pool.clone()), u.quantity);
            }
        }
    }

    /// Gives back what an order sold: its claims, its pools' sold counts, its buyer's tickets.
    fn unsell(&mut self, order_id: &str, buyer: &str, session: &str, seats: &[String], units: &[Units], tickets: u32) {
        self.free(order_id, buyer, session, seats, units);
        for u in units {
            if let Some(sold) = self.sold.get_mut(&u.pool) {
                *sold = sold.saturating_sub(u.quantity);
            }
        }
        if let Some(n) = self.per_buyer.get_mut(buyer) {
            *n = n.saturating_sub(tickets);
        }
    }

    fn gone(&self, id: &str) -> Refusal {
        if self.ended.contains_key(id) { Refusal::Expired } else { Refusal::NotFound }
    }

    fn reschedule(&mut self, hold_id: &str, due: u64) {
        let Some(hold) = self.holds.get_mut(hold_id) else { return };
        self.due.remove(&(hold.due, hold_id.to_string()));
        hold.due = due;
        self.due.insert((due, hold_id.to_string()));
    }

    fn unhold_address(&mut self, session: &str, address: &str, items: u32) {
        count_down(&mut self.per_address, (session.to_string(), address.to_string()), items);
    }

    /// Frees a hold's claims and remembers that it ended until `forget_at`.
    fn end_hold(&mut self, id: &str, forget_at: u64) {
        let Some(hold) = self.holds.remove(id) else { return };
        self.due.remove(&(hold.due, id.to_string()));
        self.free(id, &hold.buyer, &hold.session, &hold.seats, &hold.units);
        if let Some(n) = self.per_buyer.get_mut(&hold.buyer) {
            *n = n.saturating_sub(hold.tickets);
        }
        if let Some(address) = &hold.address {
            self.unhold_address(&hold.session, address, hold.unpaid);
        }
        self.ended.insert(id.to_string(), forget_at);
    }

    /// Ends every hold that is due (unpaid past its expiry, or paying past its lease) and
    /// forgets old ends with their idempotency keys.
    fn sweep(&mut self, now: u64, tombstone_ms: u64) {
        while let Some((due, id)) = self.due.first().cloned() {
            if due > now {
                break;
            }
            if self.holds.get(&id).is_some_and(|h| h.payment == Payment::Committing) {
                self.reschedule(&id, now + COMMIT_RECHECK_MS);
                continue;
            }
            self.end_hold(&id, now + tombstone_ms);
        }
        if self.ended.len() > 1024 {
            self.ended.retain(|_, forget_at| *forget_at > now);
            let (holds, ended, confirmed) = (&self.holds, &self.ended, &self.confirmed);
            self.keys.retain(|_, k| holds.contains_key(&k.hold_id) || ended.contains_key(&k.hold_id) || confirmed.contains_key(&k.hold_id));
        }
    }
}

/// Every step but the two that write the log answers at once.
impl ClaimStore for EmbeddedClaims {
    fn hold<'a>(&'a self, request: &'a HoldRequest) -> BoxFuture<'a, HoldOutcome> {
        Box::pin(std::future::ready(Ok(self.hold_now(request))))
    }

    fn release<'a>(&'a self, hold_id: &'a str, buyer: &'a str) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(std::future::ready(Ok(self.release_now(hold_id, buyer))))
    }

    fn begin_confirm<'a>(&'a self, hold_id: &'a str, buyer: &'a str, lease_ms: u64) -> BoxFuture<'a, ConfirmStart> {
        Box::pin(std::future::ready(Ok(self.begin_now(hold_id, buyer, lease_ms))))
    }

    fn commit_confirm<'a>(&'a self, hold_id: &'a str, order_id: &'a str, created_at: u64, record: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(self.commit(hold_id, order_id, created_at, record))
    }

    fn abort_confirm<'a>(&'a self, hold_id: &'a str) -> BoxFuture<'a, ()> {
        self.abort_now(hold_id);
        Box::pin(std::future::ready(Ok(())))
    }

    fn cancel<'a>(&'a self, order_id: &'a str, buyer: Option<&'a str>) -> BoxFuture<'a, Result<Cancelled, Refusal>> {
        Box::pin(self.cancel_order(order_id, buyer))
    }

    fn refund<'a>(&'a self, order_id: &'a str, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, Refusal>> {
        Box::pin(self.refund_tickets(order_id, request))
    }

    fn money(&self) -> BoxFuture<'_, Vec<(String, Money)>> {
        let s = self.lock();
        let mut all: Vec<(String, Money)> =
            s.money.iter().filter(|(_, money)| **money != Money::default()).map(|(session, money)| (session.clone(), *money)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Box::pin(std::future::ready(Ok(all)))
    }

    fn order<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Option<StoredOrder>> {
        Box::pin(std::future::ready(Ok(self.lock().orders.get(order_id).map(|o| o.stored.clone()))))
    }

    fn orders_of<'a>(&'a self, buyer: &'a str) -> BoxFuture<'a, Vec<StoredOrder>> {
        let s = self.lock();
        let ids = s.by_buyer.get(buyer).map(Vec::as_slice).unwrap_or_default();
        let orders = ids.iter().map(|id| s.orders[id].stored.clone()).collect();
        Box::pin(std::future::ready(Ok(orders)))
    }

    fn orders_after<'a>(&'a self, after: Option<(u64, &'a str)>, limit: usize) -> BoxFuture<'a, Vec<StoredOrder>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let s = self.lock();
        let from = after.map_or(Unbounded, |(at, id)| Excluded((at, id.to_string())));
        let page = s.by_time.range((from, Unbounded)).take(limit).map(|(_, id)| s.orders[id].stored.clone()).collect();
        Box::pin(std::future::ready(Ok(page)))
    }

    fn live_orders(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(std::future::ready(Ok(self.lock().live.iter().cloned().collect())))
    }

    fn taken<'a>(&'a self, session: &'a str, pools: &'a [&'a str]) -> BoxFuture<'a, Taken> {
        let s = self.swept();
        let mut seats: Vec<String> = s.seats.get(session).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        seats.sort_unstable();
        let units = pools.iter().map(|p| s.taken.get(*p).copied().unwrap_or(0)).collect();
        Box::pin(std::future::ready(Ok(Taken { seats, units })))
    }

    fn counts<'a>(&'a self, pools: &'a [&'a str]) -> BoxFuture<'a, Vec<PoolCount>> {
        let s = self.swept();
        let counts = pools
            .iter()
            .map(|p| PoolCount { taken: s.taken.get(*p).copied().unwrap_or(0), sold: s.sold.get(*p).copied().unwrap_or(0) })
            .collect();
        Box::pin(std::future::ready(Ok(counts)))
    }

    fn check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str, entry: &'a Entry) -> BoxFuture<'a, CheckIn> {
        Box::pin(self.check_in_now(order_id, ticket, entry))
    }

    fn undo_check_in<'a>(&'a self, order_id: &'a str, ticket: &'a str) -> BoxFuture<'a, Option<Entry>> {
        Box::pin(self.undo_now(order_id, ticket))
    }

    fn entries(&self) -> BoxFuture<'_, Vec<(String, String, Entry)>> {
        let s = self.lock();
        let mut all: Vec<(String, String, Entry)> = s
            .entries
            .iter()
            .flat_map(|(order, tickets)| tickets.iter().map(move |(ticket, entry)| (order.clone(), ticket.clone(), entry.clone())))
            .collect();
        all.sort_by(|a, b| (a.2.at, &a.0, &a.1).cmp(&(b.2.at, &b.0, &b.1)));
        Box::pin(std::future::ready(Ok(all)))
    }

    fn set_closed(&self, closed: bool) -> BoxFuture<'_, ()> {
        self.lock().closed = closed;
        Box::pin(std::future::ready(Ok(())))
    }

    fn paying(&self) -> BoxFuture<'_, bool> {
        let paying = self.lock().holds.values().any(|h| h.payment != Payment::None);
        Box::pin(std::future::ready(Ok(paying)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::SqliteOrderLog;

    /// A fresh database for each performance: the log's order ids are unique per database.
    fn log() -> (crate::TestDir, Arc<SqliteOrderLog>) {
        let dir = crate::TestDir::new("claims");
        crate::db::Db::open(&dir.0.join("m.db")).unwrap();
        let log = Arc::new(SqliteOrderLog::open(&dir.0.join("m.db")).unwrap());
        (dir, log)
    }

    /// The record the runtime stores: an order row (the log writes its columns).
    fn record(order_id: &str) -> String {
        let row = OrderRow {
            id: order_id.into(),
            deployment: "d1".into(),
            session: "s1".into(),
            buyer: "ann".into(),
            hold_id: format!("hold of {order_id}"),
            amount: 1000,
            status: OrderStatus::Confirmed,
            tickets: Vec::new(),
            charge_id: format!("charge of {order_id}"),
            created_at: 1,
            refunds: Vec::new(),
        };
        serde_json::to_string(&row).unwrap()
    }

    #[tokio::test]
    async fn the_embedded_store_passes_the_claim_conformance_suite() {
        let dirs = Mutex::new(Vec::new());
        marquee_store::conformance::claims(
            |_, hold_ttl_ms| {
                let (dir, log) = log();
                dirs.lock().unwrap().push(dir);
                Arc::new(EmbeddedClaims::new("d1", log, hold_ttl_ms))
            },
            record,
        )
        .await;
    }

    #[tokio::test]
    async fn orders_and_cancellations_are_in_the_log_before_the_answer() {
        let (_dir, log) = log();
        let claims = EmbeddedClaims::new("d1", log.clone(), 60_000);
        for (hold, seat) in [("h1", "A-1-1"), ("h2", "A-1-2")] {
            let request = HoldRequest {
                session: "s1".into(),
                hold_id: hold.into(),
                buyer: "ann".into(),
                address: None,
                seats: vec![seat.into()],
                units: Vec::new(),
                tickets: 1,
                buyer_limit: 10,
                unpaid: 1,
                address_cap: 0,
                ttl_ms: 60_000,
                amount: 1000,
                key: None,
                payload: String::new(),
            };
            assert!(matches!(claims.hold(&request).await.unwrap(), HoldOutcome::Held(_)));
            assert!(matches!(claims.begin_confirm(hold, "ann", 60_000).await.unwrap(), ConfirmStart::Ready(_)));
        }
        assert!(claims.commit_confirm("h1", "o1", 1, &record("o1")).await.unwrap());
        assert!(claims.commit_confirm("h2", "o2", 1, &record("o2")).await.unwrap());
        assert!(claims.cancel("o2", None).await.unwrap().unwrap().now);
        // What a restart reads back: both orders, the second cancelled.
        let rows = log.load("d1").unwrap();
        let status: Vec<(&str, OrderStatus)> = rows.iter().map(|r| (r.id.as_str(), r.status)).collect();
        assert_eq!(status, [("o1", OrderStatus::Confirmed), ("o2", OrderStatus::Cancelled)]);
        // A record the log cannot read is refused before anything is claimed as sold.
        assert!(claims.commit_confirm("h9", "o9", 1, "not an order").await.is_err());
    }
}
