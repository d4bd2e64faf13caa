//! The Redis store on a real `redis-server`, started here in a temp dir with the settings a
//! durable store needs: the conformance suite, two processes' connections sharing one
//! performance, and a server killed mid-sale.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use marquee_store::{ClaimStore, ConfirmStart, HoldOutcome, HoldRequest, OrderStatus};
use marquee_store::DirectoryEvent;
use marquee_store_redis::{Durability, LocalRedis, RedisClaims, RedisStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_claim_conformance_suite() {
    let redis = LocalRedis::start("suite", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::claims(|namespace, hold_ttl_ms| Arc::new(store.claims(namespace, hold_ttl_ms)), |id| format!("record of {id}")).await;
}

#[tokio::test]
async fn redis_passes_the_backend_conformance_suite() {
    let redis = LocalRedis::start("backend", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::backend(&store.backend()).await;
}

#[tokio::test]
async fn redis_passes_the_identity_conformance_suite() {
    let redis = LocalRedis::start("identity", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::identity(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_passes_the_catalog_conformance_suite() {
    let redis = LocalRedis::start("catalog", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::catalog(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_passes_the_directory_conformance_suite_and_tells_every_watcher() {
    let redis = LocalRedis::start("directory", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = store.watch_directory(move |event| drop(tx.send(event)));
    assert_eq!(rx.recv().await, Some(DirectoryEvent::Resync));
    marquee_store::conformance::directory(&store).await;
    let mut heard = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        heard.push(event);
    }
    let changed = |ns: &str| DirectoryEvent::Changed(ns.into());
    assert_eq!(heard, [changed("gala"), changed("fest"), changed("gala"), changed("gala"), changed("never")]);
    watcher.abort();
}

#[tokio::test]
async fn redis_passes_the_key_value_conformance_suite() {
    let redis = LocalRedis::start("kv", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::key_value(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_outbox_conformance_suite() {
    let redis = LocalRedis::start("outbox", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::outbox(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_passes_the_rate_bucket_conformance_suite() {
    let redis = LocalRedis::start("buckets", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::rate_buckets(&store).await;
}

#[tokio::test]
async fn a_redis_that_could_lose_orders_is_refused_unless_told_otherwise() {
    let redis = LocalRedis::start("lossy", "everysec").unwrap();
    let refused = RedisStore::connect(&redis.url(), Durability::Required).await.err().expect("refused");
    assert!(format!("{refused:#}").contains("appendfsync everysec"), "{refused:#}");
    RedisStore::connect(&redis.url(), Durability::Relaxed).await.unwrap();
}

fn seats(n: usize) -> Vec<String> {
    (1..=n).map(|k| format!("A-{}-{}", (k - 1) / 25 + 1, (k - 1) % 25 + 1)).collect()
}

fn pair_request(id: &str, buyer: &str, seats: &[String]) -> HoldRequest {
    HoldRequest {
        session: "s1".into(),
        hold_id: id.into(),
        buyer: buyer.into(),
        address: None,
        seats: seats.to_vec(),
        units: Vec::new(),
        tickets: seats.len() as u32,
        buyer_limit: 1000,
        unpaid: seats.len() as u32,
        address_cap: 0,
        ttl_ms: 60_000,
        amount: 100,
        key: None,
        payload: String::new(),
    }
}

/// Holds, pays for and confirms `seats`; `Some(true)` once the order is acknowledged.
async fn buy(store: &RedisClaims, id: &str, buyer: &str, seats: &[String]) -> anyhow::Result<bool> {
    let HoldOutcome::Held(_) = store.hold(&pair_request(id, buyer, seats)).await? else { return Ok(false) };
    let ConfirmStart::Ready(_) = store.begin_confirm(id, buyer, 60_000).await? else { return Ok(false) };
    store.commit_confirm(id, &format!("o-{id}"), 1, &seats.join(",")).await
}

/// Every seat of every live order, checking that none is in two.
async fn sold(store: &RedisClaims) -> Vec<String> {
    let mut out = Vec::new();
    for id in store.live_orders().await.unwrap() {
        let order = store.order(&id).await.unwrap().unwrap();
        out.extend(order.record.split(',').map(str::to_string));
    }
    let distinct: HashSet<&String> = out.iter().collect();
    assert_eq!(distinct.len(), out.len(), "a seat is in two orders");
    out
}

/// Two processes' connections (two runtimes) on one performance: one truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_share_one_performance() {
    let redis = LocalRedis::start("two", "always").unwrap();
    let url = redis.url();
    let connect = || RedisStore::connect(&url, Durability::Required);
    let (a, b) = (connect().await.unwrap().claims("gala", 60_000), connect().await.unwrap().claims("gala", 60_000));
    // Held through A, confirmed through B; the same key sent to A and to B is one hold.
    let keyed = |id: &str| HoldRequest { key: Some(("k1".into(), "fp".into())), ..pair_request(id, "ann", &["B-1-1".into()]) };
    let HoldOutcome::Held(first) = a.hold(&keyed("h1")).await.unwrap() else { panic!("not held") };
    assert_eq!(b.hold(&keyed("h2")).await.unwrap(), HoldOutcome::Existing(first));
    let ConfirmStart::Ready(_) = b.begin_confirm("h1", "ann", 60_000).await.unwrap() else { panic!("not ready") };
    assert_eq!(a.begin_confirm("h1", "ann", 60_000).await.unwrap(), ConfirmStart::Refused(marquee_store::Refusal::Busy));
    assert!(b.commit_confirm("h1", "o1", 1, "B-1-1").await.unwrap());
    assert_eq!(a.order("o1").await.unwrap().unwrap().status, OrderStatus::Confirmed);

    // A flash crowd split between them: 32 buyers, 2,000 attempts on 500 seats.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let all = Arc::new(seats(500));
    let tasks: Vec<_> = (0..32usize)
        .map(|buyer| {
            let (store, all) = (if buyer % 2 == 0 { a.clone() } else { b.clone() }, all.clone());
            tokio::spawn(async move {
                let mut bought = Vec::new();
                for attempt in 0..62usize {
                    let first = (buyer * 131 + attempt * 17) % (all.len() - 1);
                    let pair = all[first..first + 2].to_vec();
                    if buy(&store, &format!("c{buyer}-{attempt}"), &format!("b{buyer}"), &pair).await.unwrap() {
                        bought.extend(pair);
                    }
                }
                bought
            })
        })
        .collect();
    let mut bought = Vec::new();
    for task in tasks {
        bought.extend(task.await.unwrap());
    }
    let mut sold_seats = sold(&a).await;
    sold_seats.retain(|s| s != "B-1-1");
    sold_seats.sort();
    bought.sort();
    assert_eq!(sold_seats, bought);
    // Both see the same map: what is taken is what was sold.
    let (on_a, on_b) = (a.taken("s1", &[]).await.unwrap(), b.taken("s1", &[]).await.unwrap());
    assert_eq!(on_a, on_b);
    assert_eq!(on_a.seats.len(), bought.len() + 1);
}

/// kill -9 of the server mid-sale and a restart on its AOF: every acknowledged order is there,
/// and no seat is in two orders. (Redis writes the AOF before it replies, so a killed process
/// loses nothing acknowledged whatever `appendfsync` says; `always` is for a lost machine,
/// whose page cache goes with it, which no test here can cut.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_order_survives_a_killed_redis() {
    let mut redis = LocalRedis::start("crash", "always").unwrap();
    let store = Arc::new(RedisStore::connect(&redis.url(), Durability::Required).await.unwrap().claims("gala", 60_000));
    let all = Arc::new(seats(4000));
    let restarted = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..16usize)
        .map(|buyer| {
            let (store, all, stop, restarted) = (store.clone(), all.clone(), stop.clone(), restarted.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut after, mut faults, mut attempt) = (Vec::new(), 0, 0, 0usize);
                while !stop.load(Ordering::SeqCst) {
                    attempt += 1;
                    let first = (buyer * 53 + attempt * 7) % (all.len() - 1);
                    let id = format!("c{buyer}-{attempt}");
                    match buy(&store, &id, &format!("b{buyer}"), &all[first..first + 2]).await {
                        Ok(true) => {
                            acknowledged.push(format!("o-{id}"));
                            after += usize::from(restarted.load(Ordering::SeqCst));
                        }
                        Ok(false) => {}
                        // The server is down: what was not acknowledged may or may not stand.
                        Err(_) => {
                            faults += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                (acknowledged, after, faults)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.crash_and_restart().unwrap();
    restarted.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut acknowledged, mut after, mut faults) = (Vec::new(), 0, 0);
    for task in tasks {
        let (orders, a, f) = task.await.unwrap();
        acknowledged.extend(orders);
        after += a;
        faults += f;
    }
    assert!(faults > 0, "the sale never saw the server go down");
    assert!(after > 0, "no order was sold after the restart");
    for id in &acknowledged {
        let order = store.order(id).await.unwrap();
        assert!(order.as_ref().is_some_and(|o| o.status == OrderStatus::Confirmed), "acknowledged order {id} was lost: {order:?}");
    }
    let live = sold(&store).await;
    assert!(live.len() >= acknowledged.len() * 2);
}

/// Reading orders writes nothing, even with holds due: only the steps whose answer the due
/// holds change end them.
#[tokio::test]
async fn reads_of_orders_write_nothing() {
    let redis = LocalRedis::start("reads", "always").unwrap();
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    let claims = store.claims("quiet", 60_000);
    let request = HoldRequest { ttl_ms: 20, ..pair_request("h1", "b1", &seats(1)) };
    assert!(matches!(claims.hold(&request).await.unwrap(), HoldOutcome::Held(_)));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let hold_exists = async |raw: &mut redis::aio::MultiplexedConnection| -> bool { redis::cmd("EXISTS").arg("{p:quiet}:hold:h1").query_async(raw).await.unwrap() };
    assert!(claims.orders_after(None, 10).await.unwrap().is_empty());
    assert!(claims.orders_of("b1").await.unwrap().is_empty());
    assert!(claims.live_orders().await.unwrap().is_empty());
    assert!(claims.order("o-h1").await.unwrap().is_none());
    assert!(hold_exists(&mut raw).await, "a read of orders ended a hold");
    // Availability is what the due hold changes: asking for it ends the hold.
    assert!(claims.taken("s1", &[]).await.unwrap().seats.is_empty());
    assert!(!hold_exists(&mut raw).await);
}

/// Redis 7.0 replays its append-only file under the `default` user's rules: turned off without
/// its commands, a restart would drop every order, so such a server is refused.
#[tokio::test]
async fn a_redis_that_would_drop_scripted_writes_on_restart_is_refused() {
    let redis = LocalRedis::start("acl-replay", "always").unwrap();
    redis.set_user("default", &["off", "resetkeys", "-@all"]).unwrap();
    let refused = RedisStore::connect(&redis.url(), Durability::Required).await.err().expect("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("`default` user") && message.contains("+@all"), "{message}");
    // Nor is the password in what it says.
    assert!(message.contains("pass=***&") || message.ends_with("pass=***") || message.contains("pass=*** "), "{message}");

    redis.set_user("default", &["off", "~*", "&*", "+@all"]).unwrap();
    RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
}

/// Only the URL's user, with its password, gets in: the server is not open to anyone.
#[tokio::test]
async fn a_store_with_a_password_is_not_open_and_an_open_one_is() {
    let fenced = LocalRedis::start("fenced", "always").unwrap();
    assert!(!RedisStore::connect(&fenced.url(), Durability::Required).await.unwrap().open_to_anyone().await.unwrap());
    let open = LocalRedis::start_with("open", "always", marquee_store_redis::Access::Open).unwrap();
    assert!(RedisStore::connect(&open.url(), Durability::Required).await.unwrap().open_to_anyone().await.unwrap());
    let wrong = fenced.url().replace("pass=", "pass=wrong");
    let refused = RedisStore::connect(&wrong, Durability::Required).await.err().expect("a wrong password is refused");
    assert!(!format!("{refused:#}").contains("passwrong"), "{refused:#}");
}

/// Over TLS (`rediss://`, an ACL user and password), to a server whose certificate a CA of the
/// test's own signed: the whole claim suite, trusting that CA alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_passes_the_claim_conformance_suite() {
    let redis = LocalRedis::start_with("tls", "always", marquee_store_redis::Access::Tls).unwrap();
    let url = redis.tls_url().unwrap();
    let ca = std::fs::read(redis.ca_file()).unwrap();
    let store = RedisStore::connect_with(&url, Durability::Required, Some(ca.clone())).await.unwrap();
    assert!(!store.open_to_anyone().await.unwrap());
    marquee_store::conformance::claims(|namespace, hold_ttl_ms| Arc::new(store.claims(namespace, hold_ttl_ms)), |id| format!("record of {id}")).await;

    // The system's roots do not know that CA; a CA is only for a TLS address.
    let untrusted = RedisStore::connect(&url, Durability::Required).await.err().expect("an unknown CA is refused");
    assert!(format!("{untrusted:#}").contains(":***@localhost"), "shown without its password: {untrusted:#}");
    let plain = RedisStore::connect_with(&redis.url(), Durability::Required, Some(ca)).await.err().expect("a CA for a plain address");
    assert!(format!("{plain:#}").contains("rediss://"), "{plain:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_snapshot_goes_back_into_another_redis_and_into_the_embedded_store() {
    let (a, b) = (LocalRedis::start("snapshot-a", "always").unwrap(), LocalRedis::start("snapshot-b", "always").unwrap());
    let from = RedisStore::connect(&a.url(), Durability::Required).await.unwrap().backend();
    let to = RedisStore::connect(&b.url(), Durability::Required).await.unwrap().backend();
    marquee_store::conformance::snapshot(&from, &to).await;
    let c = LocalRedis::start("snapshot-c", "always").unwrap();
    let dir = marquee_store_embedded::TestDir::new("snapshot-from-redis");
    marquee_store::conformance::snapshot(&RedisStore::connect(&c.url(), Durability::Required).await.unwrap().backend(), &marquee_store_embedded::open(&dir.0).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_snapshot_goes_into_redis() {
    let redis = LocalRedis::start("snapshot-to", "always").unwrap();
    let dir = marquee_store_embedded::TestDir::new("snapshot-to-redis");
    let to = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap().backend();
    marquee_store::conformance::snapshot(&marquee_store_embedded::open(&dir.0).unwrap(), &to).await;
}
