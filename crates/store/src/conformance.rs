//! The behaviour every [`ClaimStore`] backend must have, as tests a backend's own test calls
//! with a maker of fresh, empty performances.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    Account, Catalog, CheckIn, ComponentRow, Delivery, NamespaceToken, PerformanceRow, TokenScope, ClaimStore, ConfirmStart, Confirming, Directory, Entry, HoldOutcome, HoldRequest, Identity, KeyValue, Money, OrderStatus, PoolCount,
    RateBuckets, RefreshState, Refund, RefundRequest, Refusal, Role, StoredOrder, Units,
};

/// A rate-limit backend: a burst, then a wait that refills one token per `period / count`.
pub async fn rate_buckets(store: &dyn RateBuckets) {
    const MINUTE: Duration = Duration::from_secs(60);
    for _ in 0..3 {
        store.take("signup", "1.2.3.4", 3, MINUTE).await.unwrap().unwrap();
    }
    let wait = store.take("signup", "1.2.3.4", 3, MINUTE).await.unwrap().unwrap_err();
    assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20), "{wait:?}");
    // A refused call takes nothing: the wait does not grow.
    let again = store.take("signup", "1.2.3.4", 3, MINUTE).await.unwrap().unwrap_err();
    assert!(again <= wait, "{again:?} > {wait:?}");
    // Other keys and other limits have buckets of their own.
    store.take("signup", "5.6.7.8", 3, MINUTE).await.unwrap().unwrap();
    store.take("login", "1.2.3.4", 3, MINUTE).await.unwrap().unwrap();
    // A token comes back after period / count (1 s here), and only one.
    let fast = Duration::from_secs(2);
    store.take("holds", "b1", 2, fast).await.unwrap().unwrap();
    store.take("holds", "b1", 2, fast).await.unwrap().unwrap();
    assert!(store.take("holds", "b1", 2, fast).await.unwrap().is_err());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    store.take("holds", "b1", 2, fast).await.unwrap().unwrap();
    assert!(store.take("holds", "b1", 2, fast).await.unwrap().is_err());
}

/// A key-value backend: scoped, overwritten, deleted, binary-safe.
pub async fn key_value(store: &dyn KeyValue) {
    assert_eq!(store.get("d1", "k").await.unwrap(), None);
    store.set("d1", "k", b"one").await.unwrap();
    store.set("d1", "k", b"two").await.unwrap();
    store.set("d2", "k", b"other").await.unwrap();
    assert_eq!(store.get("d1", "k").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(store.get("d2", "k").await.unwrap().as_deref(), Some(&b"other"[..]));
    // Keys that could collide in a naive encoding stay apart.
    store.set("d1", "a:b", b"x").await.unwrap();
    store.set("d1:a", "b", b"y").await.unwrap();
    assert_eq!(store.get("d1", "a:b").await.unwrap().as_deref(), Some(&b"x"[..]));
    let bytes: Vec<u8> = (0..=255).collect();
    store.set("d1", "", &bytes).await.unwrap();
    assert_eq!(store.get("d1", "").await.unwrap(), Some(bytes));
    store.set("d1", "empty", b"").await.unwrap();
    assert_eq!(store.get("d1", "empty").await.unwrap().as_deref(), Some(&b""[..]));
    store.delete("d1", "k").await.unwrap();
    store.delete("d1", "never").await.unwrap();
    assert_eq!(store.get("d1", "k").await.unwrap(), None);
    assert!(store.get("d2", "k").await.unwrap().is_some());
    // A scope cleared has no keys left; its neighbours keep theirs.
    for n in 0..300 {
        store.set("d3", &format!("k{n}"), b"v").await.unwrap();
    }
    store.clear("d3").await.unwrap();
    store.clear("d1").await.unwrap();
    assert_eq!(store.get("d3", "k7").await.unwrap(), None);
    assert_eq!(store.get("d1", "a:b").await.unwrap(), None);
    assert_eq!(store.get("d1:a", "b").await.unwrap().as_deref(), Some(&b"y"[..]));
    assert!(store.get("d2", "k").await.unwrap().is_some());
}

const TTL_MS: u64 = 60_000;

fn request(hold_id: &str, buyer: &str, seats: &[&str]) -> HoldRequest {
    HoldRequest {
        session: "s1".into(),
        hold_id: hold_id.into(),
        buyer: buyer.into(),
        address: None,
        seats: seats.iter().map(|s| s.to_string()).collect(),
        units: Vec::new(),
        tickets: seats.len() as u32,
        buyer_limit: 100,
        unpaid: seats.len() as u32,
        address_cap: 0,
        ttl_ms: TTL_MS,
        amount: 1000 * seats.len() as u64,
        key: None,
        payload: format!("receipt of {hold_id}"),
    }
}

fn units(hold_id: &str, buyer: &str, quantity: u32, capacity: u32) -> HoldRequest {
    HoldRequest {
        units: vec![Units { pool: "s1/floor".into(), quantity, capacity, per_buyer: 0 }],
        tickets: quantity,
        unpaid: quantity,
        ..request(hold_id, buyer, &[])
    }
}

/// A hold of goods only: units of a pool every session shares, no ticket, with a per-buyer
/// limit of their own.
fn goods(hold_id: &str, buyer: &str, quantity: u32, stock: u32, per_buyer: u32) -> HoldRequest {
    HoldRequest {
        units: vec![Units { pool: "g/shirt".into(), quantity, capacity: stock, per_buyer }],
        tickets: 0,
        unpaid: quantity,
        ..request(hold_id, buyer, &[])
    }
}

async fn held(store: &dyn ClaimStore, r: &HoldRequest) {
    let outcome = store.hold(r).await.unwrap();
    assert!(matches!(outcome, HoldOutcome::Held(ref h) if h.hold_id == r.hold_id && h.payload == r.payload), "{outcome:?}");
}

/// Starts paying for a hold that must be ready to pay.
async fn pay(store: &dyn ClaimStore, hold_id: &str, buyer: &str, lease_ms: u64) -> Confirming {
    match store.begin_confirm(hold_id, buyer, lease_ms).await.unwrap() {
        ConfirmStart::Ready(paying) => paying,
        other => panic!("{hold_id} is not ready to pay: {other:?}"),
    }
}

/// The record a backend stores for an order: opaque to the store, but a backend may ask for
/// a shape of its own (the embedded one writes columns of it).
pub type Record = fn(order_id: &str) -> String;

/// Pays for a hold and makes it order `order_id`.
async fn bought(store: &dyn ClaimStore, record: Record, hold_id: &str, buyer: &str, order_id: &str) {
    pay(store, hold_id, buyer, TTL_MS).await;
    assert!(store.commit_confirm(hold_id, order_id, 1, &record(order_id)).await.unwrap());
}

/// Runs every scenario, each on a performance of its own.
pub async fn claims(make: impl Fn(&str, u64) -> Arc<dyn ClaimStore>, record: Record) {
    all_or_nothing(&*make("all-or-nothing", TTL_MS)).await;
    pools_count(&*make("pools", TTL_MS), record).await;
    flash_crowd(make("crowd", TTL_MS)).await;
    keys(&*make("keys", TTL_MS), record).await;
    limits(&*make("limits", TTL_MS), record).await;
    confirm(&*make("confirm", TTL_MS), record).await;
    cancel(&*make("cancel", TTL_MS), record).await;
    closing(&*make("closing", TTL_MS)).await;
    expiry(&*make("expiry", 300), record).await;
    goods_only(&*make("goods", TTL_MS), record).await;
    goods_limits(&*make("goods-limits", TTL_MS), record).await;
    goods_expiry(&*make("goods-expiry", 300)).await;
    goods_crowd(make("goods-crowd", TTL_MS), record).await;
    door(make("door", TTL_MS), record).await;
    refunds(make("refunds", TTL_MS), record).await;
}

/// A hold of numbered seats, which count in their section's pool as well.
fn seated(hold_id: &str, buyer: &str, seats: &[&str]) -> HoldRequest {
    let pool = Units { pool: "s1/A".into(), quantity: seats.len() as u32, capacity: 10, per_buyer: 0 };
    HoldRequest { units: vec![pool], buyer_limit: 2, ..request(hold_id, buyer, seats) }
}

/// The seller's refund of seats of section A at 1000 each.
fn refund_of(seats: &[&str], amount: u64) -> RefundRequest {
    RefundRequest {
        tickets: seats.iter().map(|s| s.to_string()).collect(),
        seats: seats.iter().map(|s| s.to_string()).collect(),
        units: vec![Units { pool: "s1/A".into(), quantity: seats.len() as u32, capacity: 10, per_buyer: 0 }],
        counted: seats.len() as u32,
        amount,
        at: 7,
    }
}

/// The seller refunds some tickets, then the rest: each refund frees exactly what its tickets
/// claim, pays back no more than is left of what was paid, is refused the second time (of two
/// at once, one pays back), and a refunded ticket admits no one; each session's money follows.
async fn refunds(store: Arc<dyn ClaimStore>, record: Record) {
    let entry = Entry { at: 1, door: None };
    held(&*store, &seated("h1", "ann", &["A-1-1", "A-1-2"])).await;
    bought(&*store, record, "h1", "ann", "o1").await;
    assert_eq!(store.money().await.unwrap(), [("s1".to_string(), Money { gross: 2000, refunded: 0 })]);
    assert_eq!(store.refund("o9", &refund_of(&["A-1-1"], 1000)).await.unwrap(), Err(Refusal::NotFound));
    assert_eq!(store.refund("o1", &refund_of(&[], 0)).await.unwrap(), Err(Refusal::Refunded), "nothing named");

    let one = store.refund("o1", &refund_of(&["A-1-1"], 1000)).await.unwrap().unwrap();
    assert_eq!(one.refund, Refund { tickets: vec!["A-1-1".into()], amount: 1000, at: 7 });
    assert_eq!((one.order.status, one.order.refunds.clone()), (OrderStatus::Confirmed, vec![one.refund.clone()]));
    assert_eq!(store.taken("s1", &[]).await.unwrap().seats, ["A-1-2"]);
    assert_eq!(store.counts(&["s1/A"]).await.unwrap(), [PoolCount { taken: 1, sold: 1 }]);
    assert_eq!(store.check_in("o1", "A-1-1", &entry).await.unwrap(), CheckIn::NotConfirmed(OrderStatus::Refunded));
    assert_eq!(store.check_in("o1", "A-1-2", &entry).await.unwrap(), CheckIn::Admitted);
    assert_eq!(store.refund("o1", &refund_of(&["A-1-1"], 1000)).await.unwrap(), Err(Refusal::Refunded), "refunded once");
    // The seat is on sale again, and its buyer's allowance is back (her limit is 2).
    held(&*store, &seated("h2", "ann", &["A-1-1"])).await;
    store.release("h2", "ann").await.unwrap().unwrap();

    // Asked for more than is left: capped at what was paid; with no ticket left it is refunded.
    let rest = store.refund("o1", &refund_of(&["A-1-2"], 5000)).await.unwrap().unwrap();
    assert_eq!((rest.refund.amount, rest.order.status), (1000, OrderStatus::Refunded));
    assert_eq!(store.order("o1").await.unwrap().unwrap().refunds.len(), 2);
    assert!(store.live_orders().await.unwrap().is_empty());
    assert!(store.taken("s1", &[]).await.unwrap().seats.is_empty());
    assert_eq!(store.counts(&["s1/A"]).await.unwrap(), [PoolCount::default()]);
    let cancelled = store.cancel("o1", None).await.unwrap().unwrap();
    assert_eq!((cancelled.order.status, cancelled.now), (OrderStatus::Refunded, false));
    assert_eq!(store.check_in("o1", "A-1-2", &entry).await.unwrap(), CheckIn::NotConfirmed(OrderStatus::Refunded));
    assert_eq!(store.money().await.unwrap(), [("s1".to_string(), Money { gross: 2000, refunded: 2000 })]);

    // Two refunds of one ticket at once: one pays back. The buyer cancels the rest and is
    // paid back what was left.
    held(&*store, &seated("h3", "bob", &["B-1-1", "B-1-2"])).await;
    bought(&*store, record, "h3", "bob", "o3").await;
    let twice = refund_of(&["B-1-1"], 1000);
    let (x, y) = tokio::join!(store.refund("o3", &twice), store.refund("o3", &twice));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|r| r.is_ok()).count(), 1, "one ticket refunded twice");
    let rest = store.cancel("o3", Some("bob")).await.unwrap().unwrap();
    assert!(rest.now);
    assert_eq!(store.money().await.unwrap(), [("s1".to_string(), Money { gross: 4000, refunded: 4000 })]);
    assert_eq!(store.counts(&["s1/A"]).await.unwrap(), [PoolCount::default()]);

    // Goods only, free, in another session: the stock comes back, no money moves.
    let shirts = HoldRequest { session: "s2".into(), amount: 0, ..goods("h4", "cy", 3, 10, 0) };
    held(&*store, &shirts).await;
    bought(&*store, record, "h4", "cy", "o4").await;
    let shirt = RefundRequest {
        tickets: vec!["goods/shirt#1".into()],
        seats: Vec::new(),
        units: vec![Units { pool: "g/shirt".into(), quantity: 1, capacity: 10, per_buyer: 0 }],
        counted: 0,
        amount: 0,
        at: 8,
    };
    let refunded = store.refund("o4", &shirt).await.unwrap().unwrap();
    assert_eq!((refunded.refund.amount, refunded.order.status), (0, OrderStatus::Confirmed));
    assert_eq!(store.counts(&["g/shirt"]).await.unwrap(), [PoolCount { taken: 2, sold: 2 }]);
    assert_eq!(store.money().await.unwrap(), [("s1".to_string(), Money { gross: 4000, refunded: 4000 })], "a free order moves no money");
}

/// A ticket admits once, of two scans at once too; a used ticket's order is the seller's to
/// cancel, never its buyer's; a cancelled order's tickets admit no one.
async fn door(store: Arc<dyn ClaimStore>, record: Record) {
    let at = |ms: u64, door: Option<&str>| Entry { at: ms, door: door.map(str::to_string) };
    held(&*store, &request("h1", "ann", &["A-1-1", "A-1-2"])).await;
    bought(&*store, record, "h1", "ann", "o1").await;
    assert_eq!(store.check_in("o1", "A-1-1", &at(10, Some("north gate"))).await.unwrap(), CheckIn::Admitted);
    assert_eq!(store.check_in("o1", "A-1-1", &at(11, None)).await.unwrap(), CheckIn::Used(at(10, Some("north gate"))));
    let (first, second) = (at(12, None), at(13, None));
    let (x, y) = tokio::join!(store.check_in("o1", "A-1-2", &first), store.check_in("o1", "A-1-2", &second));
    let admitted = [x.unwrap(), y.unwrap()].iter().filter(|c| **c == CheckIn::Admitted).count();
    assert_eq!(admitted, 1, "two scans at once admitted twice");
    assert_eq!(store.check_in("o9", "A-1-1", &at(14, None)).await.unwrap(), CheckIn::NotFound);
    let entries = store.entries().await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0], ("o1".to_string(), "A-1-1".to_string(), at(10, Some("north gate"))));

    // Used: its buyer cannot cancel it, the seller can, and then it admits no one.
    assert_eq!(store.cancel("o1", Some("ann")).await.unwrap(), Err(Refusal::Used));
    assert_eq!(store.order("o1").await.unwrap().unwrap().status, OrderStatus::Confirmed);
    assert!(store.cancel("o1", None).await.unwrap().unwrap().now);
    assert_eq!(store.check_in("o1", "A-1-1", &at(15, None)).await.unwrap(), CheckIn::NotConfirmed(OrderStatus::Cancelled));

    // An undone scan admits again, and leaves the buyer free to cancel.
    held(&*store, &request("h2", "bob", &["B-1-1"])).await;
    bought(&*store, record, "h2", "bob", "o2").await;
    assert_eq!(store.check_in("o2", "B-1-1", &at(20, None)).await.unwrap(), CheckIn::Admitted);
    assert_eq!(store.undo_check_in("o2", "B-1-1").await.unwrap(), Some(at(20, None)));
    assert_eq!(store.undo_check_in("o2", "B-1-1").await.unwrap(), None);
    assert!(store.entries().await.unwrap().iter().all(|(order, _, _)| order != "o2"));
    assert_eq!(store.check_in("o2", "B-1-1", &at(21, None)).await.unwrap(), CheckIn::Admitted);
    store.undo_check_in("o2", "B-1-1").await.unwrap().unwrap();
    assert!(store.cancel("o2", Some("bob")).await.unwrap().unwrap().now);
}

async fn shirts(store: &dyn ClaimStore) -> PoolCount {
    store.counts(&["g/shirt"]).await.unwrap()[0]
}

/// Holds with no ticket in them (goods only) and holds mixing tickets and goods go through
/// every step; a release or a cancel gives the stock back once, however often it is sent.
async fn goods_only(store: &dyn ClaimStore, record: Record) {
    held(store, &goods("h1", "ann", 2, 5, 0)).await;
    assert_eq!(shirts(store).await, PoolCount { taken: 2, sold: 0 });
    store.release("h1", "ann").await.unwrap().unwrap();
    for _ in 0..3 {
        assert_eq!(store.release("h1", "ann").await.unwrap(), Err(Refusal::Expired));
    }
    assert_eq!(shirts(store).await, PoolCount::default());
    // Bought, then cancelled twice: the stock comes back once.
    held(store, &goods("h2", "ann", 3, 5, 0)).await;
    bought(store, record, "h2", "ann", "o2").await;
    assert_eq!(shirts(store).await, PoolCount { taken: 3, sold: 3 });
    assert_eq!(store.hold(&goods("h3", "bob", 3, 5, 0)).await.unwrap(), HoldOutcome::Unavailable(vec!["g/shirt".into()]));
    assert!(store.cancel("o2", Some("ann")).await.unwrap().unwrap().now);
    assert!(!store.cancel("o2", Some("ann")).await.unwrap().unwrap().now);
    assert_eq!(shirts(store).await, PoolCount::default());
    // Tickets and goods in one hold: all or nothing, and a declined payment keeps both held.
    let mixed = |id: &str, seat: &str, n: u32| HoldRequest {
        units: goods(id, "bob", n, 5, 0).units,
        unpaid: 1 + n,
        ..request(id, "bob", &[seat])
    };
    held(store, &mixed("h4", "A-1-1", 5)).await;
    assert_eq!(store.hold(&mixed("h5", "A-1-2", 1)).await.unwrap(), HoldOutcome::Unavailable(vec!["g/shirt".into()]));
    assert_eq!(store.taken("s1", &[]).await.unwrap().seats, ["A-1-1"]);
    pay(store, "h4", "bob", TTL_MS).await;
    store.abort_confirm("h4").await.unwrap();
    bought(store, record, "h4", "bob", "o4").await;
    assert_eq!(shirts(store).await, PoolCount { taken: 5, sold: 5 });
    assert!(store.cancel("o4", None).await.unwrap().unwrap().now);
    assert_eq!(shirts(store).await, PoolCount::default());
    assert!(store.taken("s1", &[]).await.unwrap().seats.is_empty());
}

/// Goods have a per-buyer limit of their own, and count toward the address's unpaid cap.
async fn goods_limits(store: &dyn ClaimStore, record: Record) {
    held(store, &goods("h1", "ann", 2, 1000, 3)).await;
    assert_eq!(store.hold(&goods("h2", "ann", 2, 1000, 3)).await.unwrap(), HoldOutcome::OverLimit);
    // Bought goods count too; another buyer has an allowance of their own.
    bought(store, record, "h1", "ann", "o1").await;
    assert_eq!(store.hold(&goods("h3", "ann", 2, 1000, 3)).await.unwrap(), HoldOutcome::OverLimit);
    held(store, &goods("h4", "bob", 3, 1000, 3)).await;
    // A cancel and a release give the allowance back.
    store.cancel("o1", Some("ann")).await.unwrap().unwrap();
    held(store, &goods("h5", "ann", 3, 1000, 3)).await;
    store.release("h4", "bob").await.unwrap().unwrap();
    held(store, &goods("h6", "bob", 3, 1000, 3)).await;
    // Goods count toward what one address may hold unpaid, over every account it uses.
    let from = |id: &str, buyer: &str, n: u32| HoldRequest { address: Some("10.0.0.9".into()), address_cap: 4, ..goods(id, buyer, n, 1000, 3) };
    held(store, &from("a1", "x", 3)).await;
    assert_eq!(store.hold(&from("a2", "y", 2)).await.unwrap(), HoldOutcome::AddressLimit);
    held(store, &from("a3", "y", 1)).await;
    store.release("a1", "x").await.unwrap().unwrap();
    held(store, &from("a4", "z", 3)).await;
}

/// A goods-only hold that expires gives its stock back once, and the performance goes on.
async fn goods_expiry(store: &dyn ClaimStore) {
    held(store, &HoldRequest { ttl_ms: 300, ..goods("h1", "ann", 2, 5, 2) }).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.release("h1", "ann").await.unwrap(), Err(Refusal::Expired));
    assert_eq!(store.taken("s1", &["g/shirt"]).await.unwrap().units, [0]);
    held(store, &goods("h2", "ann", 2, 5, 2)).await;
    held(store, &goods("h3", "bob", 2, 5, 2)).await;
    assert_eq!(shirts(store).await, PoolCount { taken: 4, sold: 0 });
}

/// Many buyers at once on little stock: never more sold than there is.
async fn goods_crowd(store: Arc<dyn ClaimStore>, record: Record) {
    let tasks: Vec<_> = (0..12)
        .map(|buyer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut bought_units = 0;
                for attempt in 0..4 {
                    let (id, who, order) = (format!("h{buyer}-{attempt}"), format!("b{buyer}"), format!("o{buyer}-{attempt}"));
                    if let HoldOutcome::Held(_) = store.hold(&goods(&id, &who, 2, 15, 4)).await.unwrap() {
                        if attempt % 2 == 0 {
                            pay(&*store, &id, &who, TTL_MS).await;
                            assert!(store.commit_confirm(&id, &order, 1, &record(&order)).await.unwrap());
                            bought_units += 2;
                        } else {
                            store.release(&id, &who).await.unwrap().unwrap();
                        }
                    }
                }
                bought_units
            })
        })
        .collect();
    let mut sold = 0;
    for task in tasks {
        sold += task.await.unwrap();
    }
    assert!(sold <= 15, "{sold} shirts sold from a stock of 15");
    assert_eq!(shirts(&*store).await, PoolCount { taken: sold, sold });
}

async fn all_or_nothing(store: &dyn ClaimStore) {
    held(store, &request("h1", "ann", &["A-1-1", "A-1-2"])).await;
    let second = store.hold(&request("h2", "bob", &["A-1-2", "A-1-3"])).await.unwrap();
    assert_eq!(second, HoldOutcome::Unavailable(vec!["A-1-2".into()]));
    // Nothing of the refused hold was claimed.
    held(store, &request("h3", "bob", &["A-1-3"])).await;
    let taken = store.taken("s1", &[]).await.unwrap();
    assert_eq!(taken.seats, ["A-1-1", "A-1-2", "A-1-3"]);
    // Another session has seats of its own.
    held(store, &HoldRequest { session: "s2".into(), ..request("h4", "bob", &["A-1-1"]) }).await;
    store.release("h1", "ann").await.unwrap().unwrap();
    assert_eq!(store.taken("s1", &[]).await.unwrap().seats, ["A-1-3"]);
    assert_eq!(store.release("h1", "ann").await.unwrap(), Err(Refusal::Expired));
    assert_eq!(store.release("h3", "ann").await.unwrap(), Err(Refusal::Forbidden));
    assert_eq!(store.release("nope", "ann").await.unwrap(), Err(Refusal::NotFound));
}

async fn pools_count(store: &dyn ClaimStore, record: Record) {
    held(store, &units("h1", "ann", 3, 5)).await;
    assert_eq!(store.hold(&units("h2", "bob", 3, 5)).await.unwrap(), HoldOutcome::Unavailable(vec!["s1/floor".into()]));
    held(store, &units("h3", "bob", 2, 5)).await;
    assert_eq!(store.taken("s1", &["s1/floor", "s1/balcony"]).await.unwrap().units, [5, 0]);
    store.release("h1", "ann").await.unwrap().unwrap();
    assert_eq!(store.taken("s1", &["s1/floor"]).await.unwrap().units, [2]);
    // What an order claims counts as sold until it is cancelled.
    bought(store, record, "h3", "bob", "o3").await;
    let counts = store.counts(&["s1/floor", "s1/balcony"]).await.unwrap();
    assert_eq!(counts, [PoolCount { taken: 2, sold: 2 }, PoolCount::default()]);
    held(store, &units("h4", "ann", 1, 5)).await;
    assert_eq!(store.counts(&["s1/floor"]).await.unwrap(), [PoolCount { taken: 3, sold: 2 }]);
    store.cancel("o3", None).await.unwrap().unwrap();
    assert_eq!(store.counts(&["s1/floor"]).await.unwrap(), [PoolCount { taken: 1, sold: 0 }]);
}

/// Many buyers at once on few seats: no seat is in two holds, and what is taken is what the
/// holds that stand claim.
async fn flash_crowd(store: Arc<dyn ClaimStore>) {
    let seats: Vec<String> = (1..=40).map(|n| format!("A-1-{n}")).collect();
    let tasks: Vec<_> = (0..16)
        .map(|buyer| {
            let (store, seats) = (store.clone(), seats.clone());
            tokio::spawn(async move {
                let mut won = Vec::new();
                for attempt in 0..20usize {
                    let first = (buyer * 7 + attempt * 3) % seats.len();
                    let pair = [seats[first].as_str(), seats[(first + 1) % seats.len()].as_str()];
                    let id = format!("h{buyer}-{attempt}");
                    if let HoldOutcome::Held(_) = store.hold(&request(&id, &format!("b{buyer}"), &pair)).await.unwrap() {
                        won.extend(pair.iter().map(|s| s.to_string()));
                    }
                }
                won
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    let distinct: HashSet<&String> = claimed.iter().collect();
    assert_eq!(distinct.len(), claimed.len(), "a seat was held twice");
    let mut taken = store.taken("s1", &[]).await.unwrap().seats;
    claimed.sort();
    taken.sort();
    assert_eq!(taken, claimed);
}

async fn keys(store: &dyn ClaimStore, record: Record) {
    let keyed = |id: &str, seat: &str| HoldRequest { key: Some(("k1".into(), format!("fp-{seat}"))), ..request(id, "ann", &[seat]) };
    held(store, &keyed("h1", "A-1-1")).await;
    // The same request again: the first hold, not a second one.
    let again = store.hold(&keyed("h2", "A-1-1")).await.unwrap();
    assert!(matches!(again, HoldOutcome::Existing(ref h) if h.hold_id == "h1" && h.payload == "receipt of h1"), "{again:?}");
    assert_eq!(store.hold(&keyed("h3", "A-1-2")).await.unwrap(), HoldOutcome::KeyReused);
    // Another buyer's key of the same name is theirs.
    held(store, &HoldRequest { key: Some(("k1".into(), "fp-A-1-2".into())), ..request("h4", "bob", &["A-1-2"]) }).await;
    bought(store, record, "h1", "ann", "o1").await;
    assert_eq!(store.hold(&keyed("h5", "A-1-1")).await.unwrap(), HoldOutcome::KeyConfirmed);
    store.release("h4", "bob").await.unwrap().unwrap();
    let bob_again = HoldRequest { key: Some(("k1".into(), "fp-A-1-2".into())), ..request("h6", "bob", &["A-1-2"]) };
    assert_eq!(store.hold(&bob_again).await.unwrap(), HoldOutcome::Expired);
}

async fn limits(store: &dyn ClaimStore, record: Record) {
    let limited = |id: &str, seats: &[&str]| HoldRequest { buyer_limit: 3, ..request(id, "ann", seats) };
    held(store, &limited("h1", &["A-1-1", "A-1-2"])).await;
    assert_eq!(store.hold(&limited("h2", &["A-1-3", "A-1-4"])).await.unwrap(), HoldOutcome::OverLimit);
    held(store, &limited("h3", &["A-1-3"])).await;
    // Bought tickets count too; a release gives the allowance back.
    bought(store, record, "h3", "ann", "o3").await;
    assert_eq!(store.hold(&limited("h4", &["A-1-4"])).await.unwrap(), HoldOutcome::OverLimit);
    store.release("h1", "ann").await.unwrap().unwrap();
    held(store, &limited("h5", &["A-1-4", "A-1-5"])).await;

    // Unpaid tickets per address per session, over every account it uses.
    let from = |id: &str, buyer: &str, seat: &str| HoldRequest { address: Some("10.0.0.1".into()), address_cap: 2, ..request(id, buyer, &[seat]) };
    held(store, &from("a1", "x", "B-1-1")).await;
    held(store, &from("a2", "y", "B-1-2")).await;
    assert_eq!(store.hold(&from("a3", "z", "B-1-3")).await.unwrap(), HoldOutcome::AddressLimit);
    // A paid hold no longer counts against its address.
    bought(store, record, "a1", "x", "oa1").await;
    held(store, &from("a4", "z", "B-1-3")).await;
}

async fn confirm(store: &dyn ClaimStore, record: Record) {
    held(store, &request("h1", "ann", &["A-1-1"])).await;
    assert_eq!(store.begin_confirm("h1", "bob", TTL_MS).await.unwrap(), ConfirmStart::Refused(Refusal::Forbidden));
    let paying = pay(store, "h1", "ann", TTL_MS).await;
    assert_eq!((paying.session.as_str(), paying.amount, paying.payload.as_str()), ("s1", 1000, "receipt of h1"));
    assert!(store.paying().await.unwrap());
    assert_eq!(store.begin_confirm("h1", "ann", TTL_MS).await.unwrap(), ConfirmStart::Refused(Refusal::Busy));
    assert_eq!(store.release("h1", "ann").await.unwrap(), Err(Refusal::Busy));
    assert!(store.commit_confirm("h1", "o1", 10, &record("o1")).await.unwrap());
    assert!(!store.paying().await.unwrap());
    // A retried confirm gets the order; the seat stays taken by it.
    let ConfirmStart::Done(order) = store.begin_confirm("h1", "ann", TTL_MS).await.unwrap() else { panic!("not done") };
    assert_eq!((order.order_id.as_str(), order.record.clone(), order.status), ("o1", record("o1"), OrderStatus::Confirmed));
    assert_eq!(store.begin_confirm("h1", "bob", TTL_MS).await.unwrap(), ConfirmStart::Refused(Refusal::Forbidden));
    assert_eq!(store.hold(&request("h2", "bob", &["A-1-1"])).await.unwrap(), HoldOutcome::Unavailable(vec!["A-1-1".into()]));
    // A declined payment leaves the hold unpaid and releasable.
    held(store, &request("h3", "ann", &["A-1-2"])).await;
    pay(store, "h3", "ann", TTL_MS).await;
    store.abort_confirm("h3").await.unwrap();
    store.release("h3", "ann").await.unwrap().unwrap();
    assert!(!store.commit_confirm("h3", "o3", 11, &record("o3")).await.unwrap());
    assert_eq!(store.live_orders().await.unwrap(), ["o1"]);
    let mine = store.orders_of("ann").await.unwrap();
    assert_eq!(mine.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), ["o1"]);
    assert!(store.orders_of("bob").await.unwrap().is_empty());
    // The seller's list has every order, oldest first, whoever bought it.
    held(store, &request("h4", "bob", &["A-1-3"])).await;
    pay(store, "h4", "bob", TTL_MS).await;
    assert!(store.commit_confirm("h4", "o4", 20, &record("o4")).await.unwrap());
    let all: Vec<(String, String)> = store.orders_after(None, 10).await.unwrap().into_iter().map(|o| (o.order_id, o.buyer)).collect();
    assert_eq!(all, [("o1".to_string(), "ann".to_string()), ("o4".into(), "bob".into())]);
    // A page at a time, after an order: what follows it, however many share its time.
    for (n, at) in [(5, 20), (6, 20), (7, 21)] {
        let (hold, order) = (format!("h{n}"), format!("o{n}"));
        held(store, &request(&hold, "cy", &[&format!("B-1-{n}")])).await;
        pay(store, &hold, "cy", TTL_MS).await;
        assert!(store.commit_confirm(&hold, &order, at, &record(&order)).await.unwrap());
    }
    let ids = |page: Vec<StoredOrder>| page.into_iter().map(|o| o.order_id).collect::<Vec<_>>();
    assert_eq!(ids(store.orders_after(None, 2).await.unwrap()), ["o1", "o4"]);
    assert_eq!(ids(store.orders_after(Some((20, "o4")), 2).await.unwrap()), ["o5", "o6"]);
    assert_eq!(ids(store.orders_after(Some((20, "o6")), 2).await.unwrap()), ["o7"]);
    assert!(store.orders_after(Some((21, "o7")), 2).await.unwrap().is_empty());
    assert!(store.orders_after(None, 0).await.unwrap().is_empty());
}

async fn cancel(store: &dyn ClaimStore, record: Record) {
    held(store, &HoldRequest { buyer_limit: 2, ..request("h1", "ann", &["A-1-1", "A-1-2"]) }).await;
    pay(store, "h1", "ann", TTL_MS).await;
    assert!(store.commit_confirm("h1", "o1", 1, &record("o1")).await.unwrap());
    assert_eq!(store.cancel("o1", Some("bob")).await.unwrap(), Err(Refusal::Forbidden));
    assert_eq!(store.cancel("o9", None).await.unwrap(), Err(Refusal::NotFound));
    let cancelled = store.cancel("o1", Some("ann")).await.unwrap().unwrap();
    assert_eq!((cancelled.order.status, cancelled.order.record.clone(), cancelled.now), (OrderStatus::Cancelled, record("o1"), true));
    // Answered as it is the second time; its seats and the buyer's allowance are free again.
    let again = store.cancel("o1", None).await.unwrap().unwrap();
    assert_eq!((again.order.status, again.now), (OrderStatus::Cancelled, false));
    assert!(store.taken("s1", &[]).await.unwrap().seats.is_empty());
    held(store, &HoldRequest { buyer_limit: 2, ..request("h2", "ann", &["A-1-1", "A-1-2"]) }).await;
    assert_eq!(store.order("o1").await.unwrap().unwrap().status, OrderStatus::Cancelled);
    assert!(store.live_orders().await.unwrap().is_empty());
}

async fn closing(store: &dyn ClaimStore) {
    held(store, &request("h1", "ann", &["A-1-1"])).await;
    store.set_closed(true).await.unwrap();
    assert_eq!(store.hold(&request("h2", "ann", &["A-1-2"])).await.unwrap(), HoldOutcome::Closed);
    assert_eq!(store.begin_confirm("h1", "ann", TTL_MS).await.unwrap(), ConfirmStart::Refused(Refusal::Closed));
    store.set_closed(false).await.unwrap();
    held(store, &request("h2", "ann", &["A-1-2"])).await;
}

/// Holds end by the store's clock, and so does a payment that never finished.
async fn expiry(store: &dyn ClaimStore, record: Record) {
    let short = |id: &str, seat: &str| HoldRequest { ttl_ms: 300, ..request(id, "ann", &[seat]) };
    held(store, &short("h1", "A-1-1")).await;
    held(store, &short("h2", "A-1-2")).await;
    pay(store, "h2", "ann", 300).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.begin_confirm("h1", "ann", 300).await.unwrap(), ConfirmStart::Refused(Refusal::Expired));
    assert_eq!(store.release("h1", "ann").await.unwrap(), Err(Refusal::Expired));
    assert!(!store.commit_confirm("h2", "o2", 1, &record("o2")).await.unwrap(), "a lapsed payment must not become an order");
    assert!(store.taken("s1", &[]).await.unwrap().seats.is_empty());
    held(store, &request("h3", "bob", &["A-1-1", "A-1-2"])).await;
}

/// An identity backend: accounts unique by email, refresh tokens that rotate once and revoke
/// their family when presented again, logouts, password changes, token keys.
pub async fn identity(store: Arc<dyn Identity>) {
    let ann = Account {
        id: "a1".into(),
        email: "ann@example.com".into(),
        password_hash: "hash-1".into(),
        role: Role::Seller,
        must_change_password: true,
    };
    assert!(store.insert_account(&ann, 1).await.unwrap());
    assert!(!store.insert_account(&Account { id: "a2".into(), ..ann.clone() }, 2).await.unwrap(), "an email is one account");
    assert_eq!(store.account_by_email("ann@example.com").await.unwrap().as_ref(), Some(&ann));
    assert_eq!(store.account_by_id("a1").await.unwrap().as_ref(), Some(&ann));
    assert_eq!(store.account_by_id("a2").await.unwrap(), None);
    assert_eq!(store.account_count().await.unwrap(), 1);

    // A refresh token is spent once; presented again, its whole family is revoked.
    let far = 4_000_000_000;
    store.insert_refresh("r1", "f1", "a1", far).await.unwrap();
    let live = RefreshState::Live { family: "f1".into(), account_id: "a1".into(), expires_at: far };
    assert_eq!(store.rotate_refresh("r1").await.unwrap(), live);
    store.insert_refresh("r2", "f1", "a1", far).await.unwrap();
    assert_eq!(store.rotate_refresh("r1").await.unwrap(), RefreshState::Reused { family: "f1".into() });
    assert_eq!(store.rotate_refresh("r2").await.unwrap(), RefreshState::Reused { family: "f1".into() });
    assert_eq!(store.rotate_refresh("nope").await.unwrap(), RefreshState::Unknown);
    assert!(store.revoked_families().await.unwrap().contains(&"f1".to_string()));

    // Two presentations at once: one wins.
    store.insert_refresh("r3", "f2", "a1", far).await.unwrap();
    let (x, y) = tokio::join!(store.rotate_refresh("r3"), store.rotate_refresh("r3"));
    let live = [x.unwrap(), y.unwrap()].iter().filter(|s| matches!(s, RefreshState::Live { .. })).count();
    assert_eq!(live, 1);

    // A logout revokes the family; an unknown token is no one's.
    store.insert_refresh("r4", "f3", "a1", far).await.unwrap();
    assert_eq!(store.revoke_family_of("r4").await.unwrap().as_deref(), Some("f3"));
    assert_eq!(store.rotate_refresh("r4").await.unwrap(), RefreshState::Reused { family: "f3".into() });
    assert_eq!(store.revoke_family_of("nope").await.unwrap(), None);

    // A new password ends every live session of the account.
    store.insert_refresh("r5", "f4", "a1", far).await.unwrap();
    let ended = store.set_password("a1", "hash-2").await.unwrap();
    assert!(ended.contains(&"f4".to_string()), "{ended:?}");
    let changed = store.account_by_id("a1").await.unwrap().unwrap();
    assert_eq!((changed.password_hash.as_str(), changed.must_change_password), ("hash-2", false));
    assert_eq!(store.rotate_refresh("r5").await.unwrap(), RefreshState::Reused { family: "f4".into() });

    // Token keys (JSON objects, as the runtime encodes them): the first one stays the first;
    // a rotation keeps `kept`, newest first.
    let key = |n: u32| format!(r#"{{"kid":"k{n}"}}"#);
    assert!(store.token_keys(None).await.unwrap().is_empty(), "reading creates no key");
    assert_eq!(store.token_keys(Some(&key(0))).await.unwrap(), [key(0)]);
    assert_eq!(store.token_keys(Some(&key(9))).await.unwrap(), [key(0)]);
    assert_eq!(store.token_keys(None).await.unwrap(), [key(0)]);
    assert_eq!(store.add_token_key(&key(1), 2).await.unwrap(), [key(1), key(0)]);
    assert_eq!(store.add_token_key(&key(2), 2).await.unwrap(), [key(2), key(1)]);
    assert_eq!(store.token_keys(Some(&key(9))).await.unwrap(), [key(2), key(1)]);
}

/// A directory backend: performances written, replaced, removed and listed; component bytes.
pub async fn directory(store: &dyn Directory) {
    assert!(store.performances().await.unwrap().is_empty());
    store.put_performance("gala", "v1").await.unwrap();
    store.put_performance("fest", "f1").await.unwrap();
    store.put_performance("gala", "v2").await.unwrap();
    assert_eq!(store.performance("gala").await.unwrap().as_deref(), Some("v2"));
    let all = store.performances().await.unwrap();
    assert_eq!(all, [("fest".to_string(), "f1".to_string()), ("gala".into(), "v2".into())]);
    store.remove_performance("gala").await.unwrap();
    store.remove_performance("never").await.unwrap();
    assert_eq!(store.performance("gala").await.unwrap(), None);
    assert_eq!(store.performances().await.unwrap().len(), 1);

    let bytes: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    store.put_component("d1", &bytes).await.unwrap();
    assert_eq!(store.component("d1").await.unwrap(), Some(bytes));
    assert_eq!(store.component("d2").await.unwrap(), None);
}

fn performance(namespace: &str, deployment: &str, owner: &str, created_at: i64) -> PerformanceRow {
    PerformanceRow {
        namespace: namespace.into(),
        deployment: deployment.into(),
        owner: owner.into(),
        template: "seated".into(),
        params: format!("{{\"title\":\"{namespace}\"}}"),
        spec: "{}".into(),
        created_at,
    }
}

fn component(owner: &str, name: &str, version: &str, created_at: i64) -> ComponentRow {
    let digest = format!("{owner}-{name}-{version}");
    ComponentRow { owner: owner.into(), name: name.into(), version: version.into(), digest, world: "listing".into(), size: 10, created_at }
}

/// A catalog backend: performances taken, changed, archived and freed; uploads per owner;
/// templates replaced and deleted; deploy tokens live until revoked by their own
/// performance; all of it from empty, and one of two racing deploys of a name.
pub async fn catalog(store: Arc<dyn Catalog>) {
    assert!(store.performances().await.unwrap().is_empty());
    assert!(store.deployments().await.unwrap().is_empty());
    assert!(store.components(None).await.unwrap().is_empty());
    assert!(store.templates().await.unwrap().is_empty());
    assert_eq!(store.namespace_token("none").await.unwrap(), None);
    assert!(!store.revoke_namespace_token("d0", "none").await.unwrap());
    store.update_performance("never", "{}", "{}").await.unwrap();
    store.remove_performance("never", "d0", 1, true).await.unwrap();
    assert!(store.deployments().await.unwrap().is_empty(), "removing nothing archives nothing");

    let (gala, fest) = (performance("gala", "d1", "ann", 20), performance("fest", "d2", "bob", 10));
    assert!(store.insert_performance(&gala).await.unwrap());
    assert!(store.insert_performance(&fest).await.unwrap());
    assert!(!store.insert_performance(&performance("gala", "d3", "bob", 30)).await.unwrap(), "a live name is taken");
    assert_eq!(store.performances().await.unwrap(), [fest.clone(), gala.clone()], "oldest first");
    store.update_performance("gala", "{\"title\":\"Gala II\"}", "{\"v\":2}").await.unwrap();
    let gala = PerformanceRow { params: "{\"title\":\"Gala II\"}".into(), spec: "{\"v\":2}".into(), ..gala };
    assert_eq!(store.performances().await.unwrap()[1], gala);

    store.remove_performance("gala", "d3", 99, true).await.unwrap();
    assert_eq!(store.performances().await.unwrap().len(), 2, "only the deployment named is removed");
    store.remove_performance("gala", "d1", 99, true).await.unwrap();
    store.remove_performance("fest", "d2", 99, false).await.unwrap();
    assert!(store.performances().await.unwrap().is_empty());
    let archived = store.deployments().await.unwrap();
    assert_eq!(archived, [("gala".to_string(), "d1".to_string(), gala.params.clone(), Some(99))], "archived only when asked");
    let again = performance("gala", "d4", "bob", 40);
    assert!(store.insert_performance(&again).await.unwrap(), "a removed name is free again");
    let mut all = store.deployments().await.unwrap();
    all.sort();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].1.as_str(), all[0].3), ("d1", Some(99)));
    assert_eq!((all[1].1.as_str(), all[1].3), ("d4", None));

    let racing: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_performance(&performance("race", &format!("r{i}"), "ann", 50)).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for task in racing {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "one of racing deploys of a name wins");

    let (a1, a2, b1) = (component("ann", "hall", "1", 5), component("ann", "hall", "2", 6), component("bob", "hall", "1", 7));
    for c in [&a1, &a2, &b1] {
        assert!(store.insert_component(c).await.unwrap());
    }
    assert!(!store.insert_component(&component("ann", "hall", "1", 8)).await.unwrap(), "a name and version once per owner");
    assert_eq!(store.components(Some("ann")).await.unwrap(), [a1.clone(), a2.clone()]);
    assert_eq!(store.components(Some("carol")).await.unwrap(), []);
    assert_eq!(store.components(None).await.unwrap(), [a1, a2, b1]);

    store.put_template("seated", "{\"v\":1}", 1).await.unwrap();
    store.put_template("festival", "{\"f\":1}", 1).await.unwrap();
    store.put_template("seated", "{\"v\":2}", 2).await.unwrap();
    assert_eq!(store.templates().await.unwrap(), ["{\"f\":1}", "{\"v\":2}"], "by name, replaced in place");
    store.delete_template("festival").await.unwrap();
    store.delete_template("never").await.unwrap();
    assert_eq!(store.templates().await.unwrap(), ["{\"v\":2}"]);

    let token = NamespaceToken {
        id: "t1".into(),
        deployment: "d4".into(),
        namespace: "gala".into(),
        created_by: "bob".into(),
        scope: TokenScope::Door,
        label: "door B".into(),
    };
    store.insert_namespace_token(&token, "hash1", 3).await.unwrap();
    assert_eq!(store.namespace_token("t1").await.unwrap(), Some((token.clone(), "hash1".to_string())));
    let deploy = NamespaceToken { id: "t2".into(), scope: TokenScope::Deploy, label: String::new(), ..token.clone() };
    store.insert_namespace_token(&deploy, "hash2", 3).await.unwrap();
    assert_eq!(store.namespace_token("t2").await.unwrap(), Some((deploy, "hash2".to_string())), "a deploy token, no label");
    assert!(!store.revoke_namespace_token("d1", "t1").await.unwrap(), "another performance's token is out of reach");
    assert!(store.revoke_namespace_token("d4", "t1").await.unwrap());
    assert!(!store.revoke_namespace_token("d4", "t1").await.unwrap(), "revoked once");
    assert_eq!(store.namespace_token("t1").await.unwrap(), None);

    assert_eq!(store.poster("d1g35t").await.unwrap(), None);
    let jpeg = [0xff, 0xd8, 0x00, 0xff, 0xd9];
    store.put_poster("d1g35t", &jpeg, 4).await.unwrap();
    store.put_poster("d1g35t", &jpeg, 5).await.unwrap();
    assert_eq!(store.poster("d1g35t").await.unwrap().as_deref(), Some(&jpeg[..]), "bytes as put, a repeat no error");
    assert_eq!(store.poster("other").await.unwrap(), None);
}

/// An order's record as the platform writes it, of seats in session `s1`.
fn order_record(deployment: &str, order_id: &str, buyer: &str, seats: &[&str], created_at: u64) -> String {
    let row = crate::OrderRow {
        id: order_id.into(),
        deployment: deployment.into(),
        session: "s1".into(),
        buyer: buyer.into(),
        hold_id: format!("h-{order_id}"),
        amount: 1000 * seats.len() as u64,
        status: OrderStatus::Confirmed,
        tickets: seats.iter().map(|s| crate::TicketRow { seat: s.to_string(), code: format!("code of {s}"), price: Some(1000) }).collect(),
        charge_id: format!("charge of {order_id}"),
        created_at,
        refunds: Vec::new(),
    };
    serde_json::to_string(&row).unwrap()
}

/// What a caller hands [`crate::Claims::open`]: a logged order's seats not refunded, claimed
/// again.
fn replay(row: &crate::OrderRow) -> anyhow::Result<Option<crate::Restored>> {
    let seats: Vec<String> = row.tickets.iter().filter(|t| !row.is_refunded(&t.seat)).map(|t| t.seat.clone()).collect();
    let order = crate::StoredOrder {
        order_id: row.id.clone(),
        buyer: row.buyer.clone(),
        record: serde_json::to_string(&crate::OrderRow { refunds: Vec::new(), ..row.clone() })?,
        status: row.status,
        refunds: row.refunds.clone(),
    };
    let tickets = seats.len() as u32;
    Ok(Some(crate::Restored {
        hold_id: row.hold_id.clone(),
        session: row.session.clone(),
        seats,
        units: Vec::new(),
        tickets,
        amount: row.amount,
        created_at: row.created_at,
        order,
    }))
}

/// A whole backend: claims opened (and opened again, as a restart does) keep their orders, a
/// buyer's orders across performances carry their status now and their performance, archived
/// ones included; a shared secret is the first one stored.
pub async fn backend(backend: &crate::Backend) {
    let (catalog, claims) = (&*backend.catalog, &backend.claims);
    assert!(claims.orders_of_buyer("ann", catalog).await.unwrap().is_empty());
    for (namespace, deployment) in [("gala", "d-gala"), ("fest", "d-fest")] {
        assert!(catalog.insert_performance(&performance(namespace, deployment, "seller", 1)).await.unwrap());
    }
    let gala = claims.open("d-gala", TTL_MS, &replay).await.unwrap();
    for (n, seats) in [(1, ["A-1-1"]), (2, ["A-1-2"])] {
        let (hold, order) = (format!("h-o{n}"), format!("o{n}"));
        held(&*gala, &HoldRequest { hold_id: hold.clone(), ..request(&hold, "ann", &seats) }).await;
        pay(&*gala, &hold, "ann", TTL_MS).await;
        assert!(gala.commit_confirm(&hold, &order, n, &order_record("d-gala", &order, "ann", &seats, n)).await.unwrap());
    }
    assert!(gala.cancel("o2", Some("ann")).await.unwrap().unwrap().now);
    let seat_back = RefundRequest { tickets: vec!["A-1-9".into()], seats: vec!["A-1-9".into()], units: Vec::new(), counted: 1, amount: 1000, at: 5 };
    held(&*gala, &HoldRequest { hold_id: "h-o5".into(), ..request("h-o5", "bob", &["A-1-8", "A-1-9"]) }).await;
    pay(&*gala, "h-o5", "bob", TTL_MS).await;
    assert!(gala.commit_confirm("h-o5", "o5", 5, &order_record("d-gala", "o5", "bob", &["A-1-8", "A-1-9"], 5)).await.unwrap());
    gala.refund("o5", &seat_back).await.unwrap().unwrap();
    let fest = claims.open("d-fest", TTL_MS, &replay).await.unwrap();
    held(&*fest, &request("h-o3", "ann", &["B-1-1"])).await;
    pay(&*fest, "h-o3", "ann", TTL_MS).await;
    assert!(fest.commit_confirm("h-o3", "o3", 3, &order_record("d-fest", "o3", "ann", &["B-1-1"], 3)).await.unwrap());
    held(&*fest, &request("h-o4", "bob", &["B-1-2"])).await;
    pay(&*fest, "h-o4", "bob", TTL_MS).await;
    assert!(fest.commit_confirm("h-o4", "o4", 4, &order_record("d-fest", "o4", "bob", &["B-1-2"], 4)).await.unwrap());

    // Opened again: the confirmed order still claims its seat, the cancelled one does not, the
    // refunded ticket's seat is free, and the money is as it was.
    let money = gala.money().await.unwrap();
    let again = claims.open("d-gala", TTL_MS, &replay).await.unwrap();
    assert_eq!(again.taken("s1", &[]).await.unwrap().seats, ["A-1-1", "A-1-8"]);
    assert_eq!(again.order("o2").await.unwrap().unwrap().status, OrderStatus::Cancelled);
    assert_eq!(again.order("o5").await.unwrap().unwrap().refunds, [Refund { tickets: vec!["A-1-9".into()], amount: 1000, at: 5 }]);
    assert_eq!(again.refund("o5", &seat_back).await.unwrap(), Err(Refusal::Refunded), "refunded before the restart");
    assert_eq!(again.money().await.unwrap(), money);
    assert_eq!(money, [("s1".to_string(), Money { gross: 4000, refunded: 2000 })]);

    catalog.remove_performance("fest", "d-fest", 50, true).await.unwrap();
    let mine = claims.orders_of_buyer("ann", catalog).await.unwrap();
    let seen: Vec<_> = mine.iter().map(|o| (o.order.id.as_str(), o.order.status, o.namespace.as_str(), o.archived_at)).collect();
    assert_eq!(
        seen,
        [("o3", OrderStatus::Confirmed, "fest", Some(50)), ("o2", OrderStatus::Cancelled, "gala", None), ("o1", OrderStatus::Confirmed, "gala", None)]
    );
    assert_eq!(mine[2].order.tickets[0].seat, "A-1-1");
    assert_eq!(mine[2].params, performance("gala", "d-gala", "seller", 1).params);
    assert!(claims.orders_of_buyer("nobody", catalog).await.unwrap().is_empty());

    let secrets = &backend.secrets;
    assert_eq!(secrets.secret("ticket-key", "first").await.unwrap().trim(), "first");
    assert_eq!(secrets.secret("ticket-key", "second").await.unwrap().trim(), "first");
}

/// An outbox: a message is put once per id, claimed by one caller at a time until its lease
/// ends, due again after a failed try, settled for good; nothing is claimed before it is due.
pub async fn outbox(store: Arc<dyn crate::Outbox>) {
    use crate::Delivery;
    assert!(store.claim("mail", 1_000, 100, 10).await.unwrap().is_empty(), "an empty outbox has nothing due");
    assert_eq!(store.queued("mail").await.unwrap(), 0);
    assert!(store.recent("d1", 10).await.unwrap().is_empty());
    assert!(store.put("mail", "m1", "d1", "{\"n\":1}", 1_000, 1_000).await.unwrap());
    assert!(!store.put("mail", "m1", "d1", "{\"n\":\"again\"}", 1_001, 1_001).await.unwrap(), "an id is put once");
    assert!(store.put("mail", "later", "d1", "{}", 1_002, 5_000).await.unwrap());
    assert!(store.put("mail", "other", "d2", "{}", 1_000, 900).await.unwrap());

    // Due soonest first, only what is due; each claim leases it and counts an attempt.
    assert_eq!(store.queued("mail").await.unwrap(), 3, "due or not");
    let claimed = store.claim("mail", 1_000, 100, 10).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|m| (m.id.as_str(), m.attempts)).collect();
    assert_eq!(ids, [("other", 1), ("m1", 1)]);
    assert_eq!(claimed[1].body, "{\"n\":1}");
    assert_eq!((claimed[1].scope.as_str(), claimed[1].queue.as_str(), claimed[1].created_at, claimed[1].state), ("d1", "mail", 1_000, Delivery::Queued));
    assert!(store.claim("mail", 1_050, 100, 10).await.unwrap().is_empty(), "leased until 1100");

    // A lease not settled runs out: due again, a second attempt.
    let again = store.claim("mail", 1_100, 100, 1).await.unwrap();
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("m1", 2), "a limit of one takes one (ties by id)");
    store.retry("m1", "relay down", 3_000).await.unwrap();
    let other = store.claim("mail", 1_100, 100, 10).await.unwrap();
    assert_eq!((other[0].id.as_str(), other.len()), ("other", 1));
    store.settle("other", Delivery::Dropped, 1_101).await.unwrap();
    assert!(store.claim("mail", 2_999, 100, 10).await.unwrap().is_empty(), "a retry waits its turn");
    let retried = store.claim("mail", 3_000, 100, 10).await.unwrap();
    assert_eq!((retried[0].id.as_str(), retried[0].attempts, retried[0].last_error.as_deref()), ("m1", 3, Some("relay down")));
    store.settle("m1", Delivery::Sent, 3_001).await.unwrap();
    assert_eq!(store.claim("mail", 5_000, 100, 10).await.unwrap().iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["later"]);

    // Listed by scope, newest first, with where each stands; a settled one is never due again.
    let listed = store.recent("d1", 10).await.unwrap();
    let states: Vec<_> = listed.iter().map(|m| (m.id.as_str(), m.state)).collect();
    assert_eq!(states, [("later", Delivery::Queued), ("m1", Delivery::Sent)]);
    assert_eq!(listed[1].due_at, 3_001, "a settled message says when");
    assert_eq!(store.recent("d1", 1).await.unwrap().len(), 1);
    assert_eq!(store.recent("d2", 10).await.unwrap()[0].state, Delivery::Dropped);
    assert!(store.claim("mail", 1_000_000, 100, 10).await.unwrap().iter().all(|m| m.id == "later"));

    // A queue is claimed alone; a scope lists every queue's messages.
    assert!(store.put("refunds", "r1", "d1", "{}", 1_003, 1_003).await.unwrap());
    assert!(store.claim("mail", 2_000_000, 100, 10).await.unwrap().iter().all(|m| m.queue == "mail"));
    let refunds = store.claim("refunds", 2_000_000, 100, 10).await.unwrap();
    assert_eq!((refunds.len(), refunds[0].id.as_str(), refunds[0].queue.as_str()), (1, "r1", "refunds"));
    assert_eq!(store.recent("d1", 1).await.unwrap()[0].id, "r1");
    assert_eq!((store.queued("mail").await.unwrap(), store.queued("refunds").await.unwrap()), (1, 1), "settled ones are not counted");
    store.settle("r1", Delivery::Sent, 2_000_001).await.unwrap();

    // Settled messages are forgotten once old, a few at a time; queued ones never.
    assert_eq!(store.prune(3_001, 10).await.unwrap(), 1, "m1, settled at 3001, is not before it; other (1101) is");
    assert_eq!(store.prune(2_000_002, 1).await.unwrap(), 1, "m1 or r1: one at most");
    assert_eq!(store.prune(2_000_002, 10).await.unwrap(), 1, "the other");
    assert_eq!(store.prune(u64::MAX, 10).await.unwrap(), 0, "later is still queued");
    assert_eq!(store.recent("d1", 10).await.unwrap().iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["later"]);
    assert!(store.recent("d2", 10).await.unwrap().is_empty());

    // Many claimers at once: each message goes to one of them.
    for n in 0..40 {
        store.put("mail", &format!("c{n}"), "d3", "{}", 10, 10).await.unwrap();
    }
    let claimers = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim("mail", 3_000_000, 60_000, 7).await.unwrap() })
    });
    let mut seen = HashSet::new();
    for claimer in claimers {
        for m in claimer.await.unwrap() {
            assert!(seen.insert(m.id.clone()), "{} claimed twice", m.id);
        }
    }
    assert_eq!(seen.iter().filter(|id| id.starts_with('c')).count(), 40);
}

/// Every item of a paged listing, read `limit` at a time, each once.
async fn every<T, K: Ord>(limit: usize, key: impl Fn(&T) -> K, mut page: impl AsyncFnMut(Option<String>, usize) -> crate::Page<T>) -> Vec<T> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let crate::Page { items, next } = page(cursor, limit).await;
        all.extend(items);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    all.sort_by_key(&key);
    all.dedup_by(|a, b| key(a) == key(b));
    all
}

/// A backend's snapshot: everything a backup reads is listed as it was put (a page at a time),
/// and put back into `to`, an empty backend, it reads and acts as it did: passwords, spent and
/// revoked refresh tokens, archived performances, live tokens, posters, `kv`, messages in every
/// state, and orders with their status, refunds, claims, money and entries at the door.
pub async fn snapshot(from: &crate::Backend, to: &crate::Backend) {
    let (s, t) = (&*from.snapshot, &*to.snapshot);
    let now = crate::clock::now_secs();
    assert!(s.accounts(None, 10).await.unwrap().items.is_empty());
    assert!(s.refresh_tokens(None, 10, now).await.unwrap().items.is_empty());
    assert!(s.archived().await.unwrap().is_empty());
    assert!(s.namespace_tokens().await.unwrap().is_empty());
    assert!(s.posters().await.unwrap().is_empty());
    assert!(s.kv(None, 10).await.unwrap().items.is_empty());
    assert!(s.messages(None, 10).await.unwrap().items.is_empty());
    assert!(s.orders("d1", None, 10).await.unwrap().is_empty());
    assert!(s.entries("d1").await.unwrap().is_empty());

    // Identity: accounts a page at a time; refresh tokens live, spent and revoked.
    let ids = from.identity.clone();
    for (n, email) in ["ann@example.com", "bob@example.com", "cy@example.com"].iter().enumerate() {
        let account = Account { id: format!("a{n}"), email: email.to_string(), password_hash: format!("hash{n}"), role: Role::Buyer, must_change_password: n == 2 };
        assert!(ids.insert_account(&account, 10 * n as i64).await.unwrap());
    }
    let accounts = every(2, |a: &crate::AccountRecord| a.account.id.clone(), async |c, n| s.accounts(c.as_deref(), n).await.unwrap()).await;
    assert_eq!(accounts.iter().map(|a| (a.account.id.as_str(), a.created_at)).collect::<Vec<_>>(), [("a0", 0), ("a1", 10), ("a2", 20)]);
    assert!(accounts[2].account.must_change_password);
    let later = now + 3600;
    for (hash, family) in [("r1", "f1"), ("r2", "f1"), ("r3", "f2")] {
        ids.insert_refresh(hash, family, "a0", later).await.unwrap();
    }
    ids.insert_refresh("old", "f3", "a0", now - 10).await.unwrap();
    assert!(matches!(ids.rotate_refresh("r1").await.unwrap(), RefreshState::Live { .. }));
    ids.revoke_family_of("r3").await.unwrap();
    let tokens = every(1, |t: &crate::RefreshToken| t.hash.clone(), async |c, n| s.refresh_tokens(c.as_deref(), n, now).await.unwrap()).await;
    assert_eq!(tokens.iter().map(|t| (t.hash.as_str(), t.state)).collect::<Vec<_>>(), [("r1", 1), ("r2", 0), ("r3", 2)], "an expired token is left out");
    for a in &accounts {
        assert!(to.identity.insert_account(&a.account, a.created_at).await.unwrap());
    }
    for token in &tokens {
        t.put_refresh_token(token).await.unwrap();
    }
    assert_eq!(to.identity.account_by_email("cy@example.com").await.unwrap(), Some(accounts[2].account.clone()));
    assert_eq!(to.identity.revoked_families().await.unwrap(), ["f2"]);
    assert!(matches!(to.identity.rotate_refresh("r2").await.unwrap(), RefreshState::Live { ref family, .. } if family == "f1"));
    assert!(matches!(to.identity.rotate_refresh("r1").await.unwrap(), RefreshState::Reused { .. }), "a spent token stays spent");

    // The catalog's parts no other listing reads.
    let catalog = &from.catalog;
    let gala = performance("gala", "d1", "ann", 5);
    assert!(catalog.insert_performance(&gala).await.unwrap());
    catalog.remove_performance("gala", "d1", 99, true).await.unwrap();
    assert_eq!(s.archived().await.unwrap(), [(gala.clone(), 99)]);
    let door = NamespaceToken { id: "t1".into(), deployment: "d1".into(), namespace: "gala".into(), created_by: "a1".into(), scope: TokenScope::Door, label: "B".into() };
    catalog.insert_namespace_token(&door, "h1", 7).await.unwrap();
    catalog.insert_namespace_token(&NamespaceToken { id: "t2".into(), ..door.clone() }, "h2", 8).await.unwrap();
    assert!(catalog.revoke_namespace_token("d1", "t2").await.unwrap());
    assert_eq!(s.namespace_tokens().await.unwrap(), [(door, "h1".to_string(), 7)], "live ones only");
    for digest in ["p2", "p1"] {
        catalog.put_poster(digest, b"jpeg", 1).await.unwrap();
    }
    assert_eq!(s.posters().await.unwrap(), ["p1", "p2"]);

    // A scope's kv, values as bytes.
    from.kv.set("d1", "b", &[0, 255]).await.unwrap();
    from.kv.set("d1", "a", b"x").await.unwrap();
    from.kv.set("d2", "c", b"y").await.unwrap();
    let kv = every(2, |(scope, key, _): &(String, String, Vec<u8>)| (scope.clone(), key.clone()), async |c, n| s.kv(c.as_deref(), n).await.unwrap()).await;
    let entry = |scope: &str, key: &str, value: &[u8]| (scope.to_string(), key.to_string(), value.to_vec());
    assert_eq!(kv, [entry("d1", "a", b"x"), entry("d1", "b", &[0, 255]), entry("d2", "c", b"y")]);

    // Messages in every state, put back as they were.
    let outbox = &from.outbox;
    for id in ["m1", "m2", "m3"] {
        assert!(outbox.put("mail", id, "d1", "{}", 100, 100).await.unwrap());
    }
    let claimed = outbox.claim("mail", 100, 1000, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    outbox.settle("m1", Delivery::Sent, 150).await.unwrap();
    outbox.retry("m2", "relay down", 2000).await.unwrap();
    let messages = every(2, |m: &crate::Message| m.id.clone(), async |c, n| s.messages(c.as_deref(), n).await.unwrap()).await;
    assert_eq!(messages.iter().map(|m| (m.id.as_str(), m.state, m.attempts, m.last_error.as_deref())).collect::<Vec<_>>(), [
        ("m1", Delivery::Sent, 1, None),
        ("m2", Delivery::Queued, 1, Some("relay down")),
        ("m3", Delivery::Queued, 0, None)
    ]);
    for m in &messages {
        t.put_message(m).await.unwrap();
    }
    let back = every(10, |m: &crate::Message| m.id.clone(), async |c, n| t.messages(c.as_deref(), n).await.unwrap()).await;
    assert_eq!(back, messages);
    assert_eq!(to.outbox.queued("mail").await.unwrap(), 2);
    assert_eq!(to.outbox.claim("mail", 1000, 10, 10).await.unwrap().iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m3"], "m2 waits for its retry");
    assert_eq!(to.outbox.recent("d1", 10).await.unwrap().len(), 3);

    // Orders: one standing, one cancelled, one with a ticket refunded, one used at the door.
    let gala = from.claims.open("d2", TTL_MS, &replay).await.unwrap();
    for (n, buyer, seats) in [(1, "ann", &["A-1-1"][..]), (2, "ann", &["A-1-2"]), (3, "bob", &["A-1-3", "A-1-4"])] {
        let (hold, order) = (format!("h-o{n}"), format!("o{n}"));
        held(&*gala, &HoldRequest { hold_id: hold.clone(), ..request(&hold, buyer, seats) }).await;
        pay(&*gala, &hold, buyer, TTL_MS).await;
        assert!(gala.commit_confirm(&hold, &order, n, &order_record("d2", &order, buyer, seats, n)).await.unwrap());
    }
    assert!(gala.cancel("o2", Some("ann")).await.unwrap().unwrap().now);
    let seat_back = RefundRequest { tickets: vec!["A-1-4".into()], seats: vec!["A-1-4".into()], units: Vec::new(), counted: 1, amount: 1000, at: 5 };
    gala.refund("o3", &seat_back).await.unwrap().unwrap();
    let entry = Entry { at: 9, door: Some("B".into()) };
    assert_eq!(gala.check_in("o1", "A-1-1", &entry).await.unwrap(), CheckIn::Admitted);
    held(&*gala, &request("h-open", "cy", &["A-1-5"])).await;
    let first = s.orders("d2", None, 2).await.unwrap();
    assert_eq!(first.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["o1", "o2"]);
    let last = &first[1];
    let rest = s.orders("d2", Some((last.created_at, &last.id)), 2).await.unwrap();
    assert_eq!(rest.iter().map(|o| (o.id.as_str(), o.status, o.refunds.len())).collect::<Vec<_>>(), [("o3", OrderStatus::Confirmed, 1)]);
    assert_eq!(first[1].status, OrderStatus::Cancelled);
    let entries = s.entries("d2").await.unwrap();
    assert_eq!(entries, [("o1".to_string(), "A-1-1".to_string(), entry.clone())]);
    for row in first.iter().chain(&rest) {
        t.put_order("d2", row, replay(row).unwrap().as_ref()).await.unwrap();
    }
    for (order, ticket, entry) in &entries {
        t.put_entry("d2", order, ticket, entry).await.unwrap();
    }
    assert!(t.put_order("d2", &rest[0], replay(&rest[0]).unwrap().as_ref()).await.is_err(), "an order is put back once");

    // Put back, the performance acts as it did; the open hold was not kept.
    let again = to.claims.open("d2", TTL_MS, &replay).await.unwrap();
    assert_eq!(again.taken("s1", &[]).await.unwrap().seats, ["A-1-1", "A-1-3"]);
    assert_eq!(again.money().await.unwrap(), gala.money().await.unwrap());
    assert_eq!(again.order("o3").await.unwrap().unwrap().refunds, [Refund { tickets: vec!["A-1-4".into()], amount: 1000, at: 5 }]);
    assert_eq!(again.order("o2").await.unwrap().unwrap().status, OrderStatus::Cancelled);
    assert_eq!(again.check_in("o1", "A-1-1", &Entry { at: 20, door: None }).await.unwrap(), CheckIn::Used(entry));
    assert_eq!(again.refund("o3", &seat_back).await.unwrap(), Err(Refusal::Refunded));
    assert!(matches!(again.hold(&request("h-x", "dee", &["A-1-3"])).await.unwrap(), HoldOutcome::Unavailable(_)), "a sold seat stays sold");
    held(&*again, &request("h-y", "dee", &["A-1-2", "A-1-4", "A-1-5"])).await;
    assert_eq!(again.orders_of("bob").await.unwrap().len(), 1);
}
