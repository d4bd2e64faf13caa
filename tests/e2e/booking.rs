//! Booking through the booking component: holds, payment, orders, cancellation, expiry,
//! idempotency, flash crowds and a crash in the middle of sales.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, gala_params, house};

pub(crate) const GOOD_CARD: &str = "4242 4242 4242 4242";
const DECLINED_CARD: &str = "4000 0000 0000 0002";

pub(crate) fn hold(server: &Server, ns: &str, token: &str, body: Value) -> crate::testkit::Reply {
    server.post(&format!("/p/{ns}/api/holds"), Some(token), &body)
}

pub(crate) fn confirm(server: &Server, ns: &str, token: &str, hold_id: &str, card: &str) -> crate::testkit::Reply {
    server.post(&format!("/p/{ns}/api/holds/{hold_id}/confirm"), Some(token), &json!({"payment": {"card": card}}))
}

pub(crate) fn availability(server: &Server, ns: &str) -> Value {
    server.get(&format!("/p/{ns}/api/sessions/s1/availability"), None).expect(200).json()
}

#[test]
fn hold_pay_see_and_cancel() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    let bob = server.account("bob@example.com", "buyer");
    server.deploy(&seller, "gala", "seated", gala_params());

    let h = hold(&server, "gala", &ann, json!({"session": "s1", "seats": ["R-1-1", "R-1-2"]})).expect(201).json();
    assert_eq!(h["seats"], json!(["R-1-1", "R-1-2"]));
    assert_eq!(h["amount"], 240000);
    assert!(h["expires_at"].as_str().unwrap().ends_with('Z'));
    let hold_id = h["hold_id"].as_str().unwrap();
    assert_eq!(availability(&server, "gala")["taken"], json!(["R-1-1", "R-1-2"]));

    // Someone else cannot take them, and nothing of their attempt sticks.
    let taken = hold(&server, "gala", &bob, json!({"session": "s1", "seats": ["R-1-2", "R-1-3"]})).expect(409).json();
    assert_eq!(taken["unavailable"], json!(["R-1-2"]));
    assert_eq!(availability(&server, "gala")["sections"][0]["available"], 198);

    // Bob cannot pay for or release Ann's hold.
    confirm(&server, "gala", &bob, hold_id, GOOD_CARD).expect(403);
    server.delete(&format!("/p/gala/api/holds/{hold_id}"), Some(&bob)).expect(403);

    // A declined card sells nothing and keeps the hold.
    assert_eq!(confirm(&server, "gala", &ann, hold_id, DECLINED_CARD).expect(402).json()["error"], "payment_declined");
    confirm(&server, "gala", &ann, hold_id, "not-a-card").expect(402);
    let order = confirm(&server, "gala", &ann, hold_id, GOOD_CARD).expect(201).json();
    assert_eq!(order["amount"], 240000);
    assert_eq!(order["status"], "confirmed");
    let tickets = order["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    let codes: HashSet<&str> = tickets.iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 2, "each ticket has its own code");
    // A retried confirm returns the same order and charges nothing more.
    let again = confirm(&server, "gala", &ann, hold_id, GOOD_CARD).expect(201).json();
    assert_eq!(again["order_id"], order["order_id"]);

    let orders = server.get("/p/gala/api/orders", Some(&ann)).expect(200).json();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    assert_eq!(server.get("/p/gala/api/orders", Some(&bob)).expect(200).json(), json!([]));

    let order_id = order["order_id"].as_str().unwrap();
    // At the door, the seller verifies a ticket; a forged code or another seat fails.
    let checkin = |seat: &str, code: &str| {
        server
            .post("/api/v1/performances/gala/checkin", Some(&seller), &json!({"order_id": order_id, "seat": seat, "code": code}))
            .expect(200)
            .json()
    };
    let code = tickets[0]["code"].as_str().unwrap();
    let seat = tickets[0]["seat"].as_str().unwrap();
    let admitted = checkin(seat, code);
    assert_eq!((&admitted["valid"], &admitted["status"]), (&json!(true), &json!("checked_in")));
    assert_eq!(checkin("R-1-3", code)["valid"], false);
    assert_eq!(checkin(seat, "00112233445566778899aabb")["valid"], false);
    server.post("/api/v1/performances/gala/checkin", Some(&bob), &json!({"order_id": order_id, "seat": seat, "code": code})).expect(403);
    server.post(&format!("/p/gala/api/orders/{order_id}/cancel"), Some(&bob), &json!({})).expect(403);
    // A used ticket is not its buyer's to cancel (border.rs); with the scan undone, it is.
    server.post(&format!("/p/gala/api/orders/{order_id}/cancel"), Some(&ann), &json!({})).expect(409);
    server.post("/api/v1/performances/gala/checkin/undo", Some(&seller), &json!({"order_id": order_id, "seat": seat})).expect(200);
    let cancelled = server.post(&format!("/p/gala/api/orders/{order_id}/cancel"), Some(&ann), &json!({})).expect(200).json();
    assert_eq!(cancelled["status"], "cancelled");
    let refused = checkin(seat, code);
    assert_eq!((&refused["valid"], &refused["status"], &refused["seat"]), (&json!(false), &json!("cancelled"), &json!(seat)), "{refused}");
    assert_eq!(availability(&server, "gala")["taken"], json!([]));
    hold(&server, "gala", &bob, json!({"session": "s1", "seats": ["R-1-2"]})).expect(201);

    // Release frees at once; the released hold cannot be paid.
    let h = hold(&server, "gala", &ann, json!({"session": "s1", "section": "S", "quantity": 3})).expect(201).json();
    assert_eq!(h["seats"], json!(["S#1", "S#2", "S#3"]));
    assert_eq!(availability(&server, "gala")["sections"][1]["available"], 297);
    let id = h["hold_id"].as_str().unwrap();
    server.delete(&format!("/p/gala/api/holds/{id}"), Some(&ann)).expect(204);
    assert_eq!(availability(&server, "gala")["sections"][1]["available"], 300);
    confirm(&server, "gala", &ann, id, GOOD_CARD).expect(410);
}

#[test]
fn bad_booking_requests_get_their_4xx() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    server.deploy(&seller, "gala", "seated", gala_params());
    let seats = |s: &[&str]| json!({"session": "s1", "seats": s});

    server.post("/p/gala/api/holds", None, &seats(&["R-1-1"])).expect(401);
    server.post("/p/gala/api/holds", Some("nonsense"), &seats(&["R-1-1"])).expect(401);
    hold(&server, "gala", &seller, seats(&["R-1-1"])).expect(403);
    server.post_raw("/p/gala/api/holds", Some(&ann), &[], "{oops").expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1"})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "seats": []})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "section": "S"})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "seats": ["R-1-1"], "colour": "red"})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "section": "S", "quantity": 0})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "section": "S", "quantity": -1})).expect(400);
    hold(&server, "gala", &ann, seats(&["R-99-1"])).expect(400);
    hold(&server, "gala", &ann, seats(&["R-1-1", "R-1-1"])).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s1", "section": "R", "quantity": 1})).expect(400);
    hold(&server, "gala", &ann, json!({"session": "s9", "seats": ["R-1-1"]})).expect(404);
    // The per-buyer limit of the example is 4.
    hold(&server, "gala", &ann, seats(&["R-2-1", "R-2-2", "R-2-3"])).expect(201);
    assert_eq!(hold(&server, "gala", &ann, seats(&["R-2-4", "R-2-5"])).expect(429).json()["error"], "over_limit");
    confirm(&server, "gala", &ann, "h0_doesnotexist", GOOD_CARD).expect(404);
    confirm(&server, "gala", &ann, "junk", GOOD_CARD).expect(404);
    server.post("/p/gala/api/orders/o0_nope/cancel", Some(&ann), &json!({})).expect(404);
    server.get("/p/gala/api/holds", Some(&ann)).expect(405);
    assert_eq!(availability(&server, "gala")["taken"], json!(["R-2-1", "R-2-2", "R-2-3"]));
}

#[test]
fn an_unconfirmed_hold_expires_and_an_idempotency_key_gives_one_hold() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    let mut params = gala_params();
    params["hold_ttl_seconds"] = json!(5);
    server.deploy(&seller, "quick", "seated", params);

    let key = [("Idempotency-Key", "retry-1")];
    let body = json!({"session": "s1", "seats": ["R-3-3"]}).to_string();
    let first = server.post_raw("/p/quick/api/holds", Some(&ann), &key, &body).expect(201).json();
    let second = server.post_raw("/p/quick/api/holds", Some(&ann), &key, &body).expect(201).json();
    assert_eq!(first["hold_id"], second["hold_id"]);
    assert_eq!(availability(&server, "quick")["sections"][0]["available"], 199);

    std::thread::sleep(Duration::from_millis(5500));
    assert_eq!(availability(&server, "quick")["taken"], json!([]));
    let id = first["hold_id"].as_str().unwrap();
    assert_eq!(confirm(&server, "quick", &ann, id, GOOD_CARD).expect(410).json()["error"], "hold_expired");
    // The seat is anyone's again.
    hold(&server, "quick", &ann, json!({"session": "s1", "seats": ["R-3-3"]})).expect(201);
}

/// Buying attempts from many clients at once, spread over `servers` (each client holds and
/// pays on one); returns every confirmed order's items.
pub(crate) fn crowd(servers: &[&Server], ns: &str, buyers: &[String], clients: usize, attempts: usize, pick: fn(&mut rand::rngs::ThreadRng) -> Value) -> Vec<Vec<String>> {
    let sold = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for c in 0..clients {
            let (sold, next) = (sold.clone(), next.clone());
            let (token, server) = (&buyers[c % buyers.len()], servers[c % servers.len()]);
            scope.spawn(move || {
                let mut rng = rand::rng();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < attempts {
                    let reply = hold(server, ns, token, pick(&mut rng));
                    match reply.status {
                        201 => {
                            let id = reply.json()["hold_id"].as_str().unwrap().to_string();
                            let order = confirm(server, ns, token, &id, GOOD_CARD).expect(201).json();
                            let items = order["tickets"].as_array().unwrap().iter().map(|t| t["seat"].as_str().unwrap().to_string()).collect();
                            sold.lock().unwrap().push(items);
                        }
                        409 => {}
                        // A buyer at their limit is refused, as they should be: on a busy
                        // machine a few clients can win far more than their share.
                        429 if reply.json()["error"] == "over_limit" => {}
                        other => panic!("hold answered {other}: {}", reply.text),
                    }
                }
            });
        }
    });
    Arc::try_unwrap(sold).unwrap().into_inner().unwrap()
}

/// An order a confirm answered 201: (buyer index, order id, seats).
pub(crate) type Confirmed = (usize, String, Vec<String>);

/// A sale that runs until its server stops answering: 16 clients over the buyers hold random
/// seats of section A (40 rows of 50) and pay for four holds in five.
pub(crate) struct Sale {
    /// Every order a confirm answered 201: (buyer index, order id, seats).
    pub confirmed: Arc<Mutex<Vec<Confirmed>>>,
    /// Holds left unpaid: (buyer index, hold id).
    live_holds: Arc<Mutex<Vec<(usize, String)>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Sale {
    /// What a sale sells: section A, 40 rows of 50.
    pub(crate) fn house() -> Value {
        house(json!([{"name": "A", "price": 100, "rows": 40, "seats_per_row": 50}]))
    }

    pub(crate) fn start(base: &str, ns: &str, buyers: &[String], for_at_most: Duration) -> Self {
        let confirmed: Arc<Mutex<Vec<Confirmed>>> = Arc::default();
        let live_holds: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
        let deadline = Instant::now() + for_at_most;
        let workers = (0..16)
            .map(|w| {
                let b = w % buyers.len();
                let (confirmed, live_holds, token) = (confirmed.clone(), live_holds.clone(), buyers[b].clone());
                let holds = format!("{base}/p/{ns}/api/holds");
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(5))).build().into();
                    let bearer = format!("Bearer {token}");
                    let mut rng = rand::rng();
                    while Instant::now() < deadline {
                        let seat = format!("A-{}-{}", rng.random_range(1..=40), rng.random_range(1..=50));
                        let Ok(mut r) = agent.post(&holds).header("Authorization", &bearer).send(json!({"session": "s1", "seats": [seat]}).to_string()) else { return };
                        if r.status() != 201 {
                            continue;
                        }
                        // The server may die between the head and the body.
                        let Ok(text) = r.body_mut().read_to_string() else { return };
                        let Ok(h) = serde_json::from_str::<Value>(&text) else { return };
                        let id = h["hold_id"].as_str().unwrap().to_string();
                        if rng.random_bool(0.2) {
                            live_holds.lock().unwrap().push((b, id));
                            continue;
                        }
                        let Ok(mut r) = agent.post(format!("{holds}/{id}/confirm")).header("Authorization", &bearer).send(json!({"payment": {"card": GOOD_CARD}}).to_string()) else { return };
                        if r.status() == 201 {
                            let Ok(text) = r.body_mut().read_to_string() else { return };
                            let Ok(o) = serde_json::from_str::<Value>(&text) else { return };
                            let seats = o["tickets"].as_array().unwrap().iter().map(|t| t["seat"].as_str().unwrap().to_string()).collect();
                            confirmed.lock().unwrap().push((b, o["order_id"].as_str().unwrap().to_string(), seats));
                        }
                    }
                })
            })
            .collect();
        Self { confirmed, live_holds, workers }
    }

    /// Waits for every client to stop: the orders confirmed, and the holds left unpaid.
    pub(crate) fn join(self) -> (Vec<Confirmed>, Vec<(usize, String)>) {
        for w in self.workers {
            w.join().unwrap();
        }
        let confirmed = std::mem::take(&mut *self.confirmed.lock().unwrap());
        let holds = std::mem::take(&mut *self.live_holds.lock().unwrap());
        (confirmed, holds)
    }
}

/// Checks that every order answered 2xx is stored as it was answered and that no seat is in
/// two orders; returns the seats sold.
pub(crate) fn survived(server: &Server, ns: &str, buyers: &[String], confirmed: &[(usize, String, Vec<String>)]) -> HashSet<String> {
    let mut stored: HashMap<String, Vec<String>> = HashMap::new();
    for token in buyers {
        for o in server.get(&format!("/p/{ns}/api/orders"), Some(token)).expect(200).json().as_array().unwrap() {
            assert_eq!(o["status"], "confirmed");
            let seats = o["tickets"].as_array().unwrap().iter().map(|t| t["seat"].as_str().unwrap().to_string()).collect();
            stored.insert(o["order_id"].as_str().unwrap().to_string(), seats);
        }
    }
    for (_, id, seats) in confirmed {
        assert_eq!(stored.get(id), Some(seats), "order {id} got a 2xx before the crash and must survive it");
    }
    let mut sold = HashSet::new();
    for seat in stored.values().flatten() {
        assert!(sold.insert(seat.clone()), "seat {seat} sold twice");
    }
    sold
}

/// A hold of one to four random seats of section A (10 rows of 50).
pub(crate) fn some_seats(rng: &mut rand::rngs::ThreadRng) -> Value {
    let n = rng.random_range(1..=4);
    let seats: HashSet<String> = (0..n).map(|_| format!("A-{}-{}", rng.random_range(1..=10), rng.random_range(1..=50))).collect();
    json!({"session": "s1", "seats": seats})
}

/// A hold of one to four units of section GA.
pub(crate) fn some_units(rng: &mut rand::rngs::ThreadRng) -> Value {
    json!({"session": "s1", "section": "GA", "quantity": rng.random_range(1..=4)})
}

pub(crate) fn buyers(server: &Server, n: usize) -> Vec<String> {
    (0..n).map(|i| server.account(&format!("buyer{i}@example.com"), "buyer")).collect()
}

#[test]
fn a_flash_crowd_never_oversells_numbered_seats() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "crowd", "seated", seated_house());
    seated_crowd(&[&server], "crowd", &buyers(&server, 16));
}

#[test]
fn a_flash_crowd_never_oversells_general_admission() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "field", "standing", standing_house());
    standing_crowd(&[&server], "field", &buyers(&server, 16));
}

/// 500 numbered seats: section A, 10 rows of 50.
pub(crate) fn seated_house() -> Value {
    house(json!([{"name": "A", "price": 100, "rows": 10, "seats_per_row": 50}]))
}

/// 500 places of general admission: section GA.
pub(crate) fn standing_house() -> Value {
    house(json!([{"name": "GA", "price": 100, "capacity": 500}]))
}

/// The seats in a list of them.
pub(crate) fn seats_of(list: &Value) -> HashSet<String> {
    list.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// A 2,000-attempt crowd of 64 clients spread over `servers` on a [`seated_house`]: no seat
/// in two orders, and every server shows the same map, whose taken seats are the sold ones.
/// Returns the orders.
pub(crate) fn seated_crowd(servers: &[&Server], ns: &str, buyers: &[String]) -> Vec<Vec<String>> {
    let orders = crowd(servers, ns, buyers, 64, 2000, some_seats);
    let mut sold = HashSet::new();
    for seat in orders.iter().flatten() {
        assert!(sold.insert(seat.clone()), "seat {seat} sold twice");
    }
    assert!(sold.len() > 250, "the crowd should sell most of the house, sold {}", sold.len());
    for server in servers {
        let seen = availability(server, ns);
        assert_eq!(seen["sections"][0]["available"].as_u64().unwrap(), 500 - sold.len() as u64);
        assert_eq!(seats_of(&seen["taken"]), sold, "every taken seat is a sold seat");
    }
    orders
}

/// The same on a [`standing_house`]: it sells out to within one last order and never past it.
/// Returns the units sold.
pub(crate) fn standing_crowd(servers: &[&Server], ns: &str, buyers: &[String]) -> usize {
    let orders = crowd(servers, ns, buyers, 64, 2000, some_units);
    let sold: usize = orders.iter().map(Vec::len).sum();
    assert!((497..=500).contains(&sold), "GA sells out to within one last order, sold {sold}");
    for server in servers {
        assert_eq!(availability(server, ns)["sections"][0]["available"].as_u64().unwrap(), 500 - sold as u64);
    }
    sold
}

#[test]
fn a_crash_mid_sale_loses_no_confirmed_order() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "crash", "seated", Sale::house());
    let buyers = buyers(&server, 8);

    // Buyers hold and pay until the server dies; every 2xx confirm is recorded.
    let sale = Sale::start(&server.base, "crash", &buyers, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(2500));
    let before_kill = sale.confirmed.lock().unwrap().len();
    server.kill();
    let (confirmed, live_holds) = sale.join();
    assert!(before_kill > 20, "the load should have confirmed orders before the crash, got {before_kill}");

    let server = Server::start(&dir);
    let sold = survived(&server, "crash", &buyers, &confirmed);
    // Holds live only in memory: after the crash they are released, so taken == sold.
    let taken: HashSet<String> = availability(&server, "crash")["taken"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert_eq!(taken, sold);
    if let Some((owner, id)) = live_holds.first() {
        let status = confirm(&server, "crash", &buyers[*owner], id, GOOD_CARD).status;
        assert_eq!(status, 404, "a hold from before the crash is gone");
    }
}

#[test]
fn festival_goods_share_stock_across_sessions_and_sell_all_or_nothing() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    let bob = server.account("bob@example.com", "buyer");
    let params = json!({
        "title": "Summer Fest", "venue": "Meadow",
        "sessions": [{"id": "s1", "starts_at": "2027-07-01T12:00:00Z"}, {"id": "s2", "starts_at": "2027-07-02T12:00:00Z"}],
        "sections": [{"name": "GA", "price": 5000, "capacity": 100}],
        "goods": [{"name": "SHIRT", "price": 2500, "stock": 5}],
        "per_buyer_limit": 10
    });
    server.deploy(&seller, "fest", "festival", params);
    assert_eq!(server.get("/p/fest/api/info", None).expect(200).json()["goods"][0]["stock"], 5);

    let h = hold(&server, "fest", &ann, json!({"session": "s1", "section": "GA", "quantity": 2, "goods": [{"name": "SHIRT", "quantity": 2}]}))
        .expect(201)
        .json();
    assert_eq!(h["seats"], json!(["GA#1", "GA#2", "goods/SHIRT#1", "goods/SHIRT#2"]));
    assert_eq!(h["amount"], 2 * 5000 + 2 * 2500);
    let shirts = |session: &str| {
        server.get(&format!("/p/fest/api/sessions/{session}/availability"), None).expect(200).json()["goods"][0]["available"].clone()
    };
    assert_eq!(shirts("s2"), 3, "goods stock is shared by the sessions");

    // Too many shirts: the whole hold fails, its GA units included.
    let refused = hold(&server, "fest", &bob, json!({"session": "s2", "section": "GA", "quantity": 1, "goods": [{"name": "SHIRT", "quantity": 4}]}))
        .expect(409)
        .json();
    assert_eq!(refused["unavailable"], json!(["goods/SHIRT"]));
    assert_eq!(server.get("/p/fest/api/sessions/s2/availability", None).expect(200).json()["sections"][0]["available"], 100);
    hold(&server, "fest", &bob, json!({"session": "s1", "goods": [{"name": "HAT", "quantity": 1}]})).expect(400);

    let id = h["hold_id"].as_str().unwrap();
    let order = confirm(&server, "fest", &ann, id, GOOD_CARD).expect(201).json();
    assert_eq!(order["tickets"].as_array().unwrap().len(), 4);

    // Goods alone are a valid hold; a crowd of them sells exactly the stock.
    let buyers = buyers(&server, 4);
    let orders = crowd(&[&server], "fest", &buyers, 16, 200, |rng| {
        json!({"session": "s2", "goods": [{"name": "SHIRT", "quantity": rng.random_range(1..=2)}]})
    });
    let sold: usize = orders.iter().map(Vec::len).sum();
    assert!((2..=3).contains(&sold), "3 shirts were left, the crowd bought {sold}");

    // Cancelling returns stock, and a restart keeps what was sold.
    let order_id = order["order_id"].as_str().unwrap();
    server.post(&format!("/p/fest/api/orders/{order_id}/cancel"), Some(&ann), &json!({})).expect(200);
    let left = shirts("s1").as_u64().unwrap();
    assert_eq!(left, 5 - sold as u64);
    assert!(server.stop().success());
    let server = Server::start(&dir);
    assert_eq!(server.get("/p/fest/api/sessions/s1/availability", None).expect(200).json()["goods"][0]["available"], left);
}

#[test]
fn holds_are_refused_outside_the_booking_window() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    let mut early = gala_params();
    early["booking_opens_at"] = json!("2099-01-01T10:00:00+01:00");
    server.deploy(&seller, "early", "seated", early);
    let mut late = gala_params();
    late["booking_opens_at"] = json!("2020-01-01T00:00:00Z");
    late["booking_closes_at"] = json!("2021-01-01T00:00:00Z");
    server.deploy(&seller, "late", "seated", late);
    let mut open = gala_params();
    open["booking_opens_at"] = json!("2020-01-01T00:00:00Z");
    server.deploy(&seller, "open", "seated", open);

    let body = json!({"session": "s1", "seats": ["R-1-1"]});
    assert_eq!(hold(&server, "early", &ann, body.clone()).expect(403).json()["error"], "booking_closed");
    assert_eq!(hold(&server, "late", &ann, body.clone()).expect(403).json()["error"], "booking_closed");
    hold(&server, "open", &ann, body).expect(201);
    // Times are stored in one UTC spelling.
    let stored = server.get("/api/v1/performances/early", Some(&seller)).expect(200).json();
    assert_eq!(stored["params"]["booking_opens_at"], "2099-01-01T09:00:00Z");
}
