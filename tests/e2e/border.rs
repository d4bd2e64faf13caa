//! The second attacker pass: each test plays what broke, against the real binary, on both
//! stores where a store is involved. Goods-only holds, card data and seller code, a second
//! control plane, a refund after entry, what a component may set (the Cookie filter: trust.rs), guessing
//! passwords to lock an owner out, slow bodies, a store that stops answering, tokens of a
//! deleted performance, look-alike e-mails.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::booking::{GOOD_CARD, confirm, hold};
use crate::testkit::{DataDir, Server, gala_params};
use crate::trust::hostile_gala;

fn on_redis(dir: &DataDir, redis: &LocalRedis) -> Server {
    Server::start_with(&dir.0, &[("MARQUEE_STORE", &redis.url())])
}

/// Plays `scenario` against `marquee up` on the embedded store.
fn on_embedded(scenario: fn(&Server)) {
    let dir = DataDir::new();
    scenario(&Server::start(&dir));
}

/// Plays `scenario` against `marquee up` on a redis-server of its own, named `name`.
fn on_own_redis(name: &str, scenario: fn(&Server)) {
    let redis = LocalRedis::start(name, "always").unwrap();
    let dir = DataDir::new();
    scenario(&on_redis(&dir, &redis));
}

/// A festival with five shirts; every buyer may own three of them.
fn shirts_festival(server: &Server, seller: &str) {
    let params = json!({
        "title": "Fest", "venue": "Meadow",
        "sessions": [{"id": "s1", "starts_at": "2027-07-01T12:00:00Z"}],
        "sections": [{"name": "GA", "price": 5000, "capacity": 100}],
        "goods": [{"name": "SHIRT", "price": 2500, "stock": 5, "per_buyer_limit": 3}],
        "per_buyer_limit": 4
    });
    server.deploy(seller, "fest", "festival", params);
}

fn shirts_left(server: &Server) -> Value {
    server.get("/p/fest/api/sessions/s1/availability", None).expect(200).json()["goods"][0]["available"].clone()
}

/// What the issue reproduced on Redis: a goods-only hold, deleted four times, then three
/// buyers of 3 shirts each. Nothing but 2xx and 4xx, and never more shirts than stock.
fn goods_only_holds_sell_the_stock_once(server: &Server) {
    let seller = server.account("seller@example.com", "seller");
    shirts_festival(server, &seller);
    let ann = server.account("ann@example.com", "buyer");
    let shirts = |n: u32| json!({"session": "s1", "goods": [{"name": "SHIRT", "quantity": n}]});
    let h = hold(server, "fest", &ann, shirts(2)).expect(201).json();
    let id = h["hold_id"].as_str().unwrap();
    assert_eq!(shirts_left(server), 3);
    server.delete(&format!("/p/fest/api/holds/{id}"), Some(&ann)).expect(204);
    for _ in 0..3 {
        server.delete(&format!("/p/fest/api/holds/{id}"), Some(&ann)).expect(410);
    }
    assert_eq!(shirts_left(server), 5, "a release gave the stock back more than once");

    let mut bought = 0;
    for n in 0..3 {
        let buyer = server.account(&format!("b{n}@example.com"), "buyer");
        let reply = hold(server, "fest", &buyer, json!({"session": "s1", "section": "GA", "quantity": 1, "goods": [{"name": "SHIRT", "quantity": 3}]}));
        if reply.status == 201 {
            let id = reply.json()["hold_id"].as_str().unwrap().to_string();
            confirm(server, "fest", &buyer, &id, GOOD_CARD).expect(201);
            bought += 3;
        } else {
            assert_eq!(reply.expect(409).json()["unavailable"], json!(["goods/SHIRT"]));
        }
    }
    assert_eq!(bought, 3, "one of three buyers of 3 shirts gets them from a stock of 5");
    assert_eq!(shirts_left(server), 2);

    // A goods-only hold confirms and cancels like any other.
    let goods_only = hold(server, "fest", &ann, shirts(2)).expect(201).json();
    let order = confirm(server, "fest", &ann, goods_only["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json();
    assert_eq!(shirts_left(server), 0);
    let cancelled = server.post(&format!("/p/fest/api/orders/{}/cancel", order["order_id"].as_str().unwrap()), Some(&ann), &json!({}));
    assert_eq!(cancelled.expect(200).json()["status"], "cancelled");
    assert_eq!(shirts_left(server), 2);

    // Goods have a per-buyer limit: their own (3 here), held or bought, over every hold.
    let hoarder = server.account("hoarder@example.com", "buyer");
    hold(server, "fest", &hoarder, shirts(2)).expect(201);
    assert_eq!(hold(server, "fest", &hoarder, shirts(2)).expect(429).json()["error"], "over_limit");
}

#[test]
fn goods_only_holds_never_oversell_embedded() {
    on_embedded(goods_only_holds_sell_the_stock_once);
}

#[test]
fn goods_only_holds_never_oversell_on_redis() {
    on_own_redis("e2e-goods", goods_only_holds_sell_the_stock_once);
}

/// Goods count toward the unpaid items one address may hold, over all its accounts.
#[test]
fn goods_count_toward_the_unpaid_items_of_an_address() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_NO_RATE_LIMITS", "false"), ("MARQUEE_HELD_SEATS_PER_ADDRESS", "4")]);
    let seller = server.account("seller@example.com", "seller");
    shirts_festival(&server, &seller);
    let (x, y) = (server.account("x@example.com", "buyer"), server.account("y@example.com", "buyer"));
    hold(&server, "fest", &x, json!({"session": "s1", "goods": [{"name": "SHIRT", "quantity": 3}]})).expect(201);
    let refused = hold(&server, "fest", &y, json!({"session": "s1", "section": "GA", "quantity": 1, "goods": [{"name": "SHIRT", "quantity": 1}]}));
    assert_eq!(refused.expect(429).json()["error"], "over_limit");
    hold(&server, "fest", &y, json!({"session": "s1", "section": "GA", "quantity": 1})).expect(201);
}

/// The hostile component as the performance's `booking`: it answers a confirm with every
/// header and byte it was given, beside what its confirm call returned.
#[test]
fn an_echoing_booking_component_never_sees_a_card_digit() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    hostile_gala(&server, &seller, "evil", "booking");
    let buyer = server.account("fan@example.com", "buyer");
    let card = json!({"card": "4242 4242 4242 4242", "cvc": "731", "exp": "12/29", "name": "Fan"});
    let pay = |path: &str, payment: &Value, seat: &str| {
        let held = server.post("/p/evil/api/holds", Some(&buyer), &json!({"seat": seat})).expect(201).json();
        let id = held["hold_id"].as_str().unwrap().to_string();
        let seen = server.post(&path.replace("{id}", &id), Some(&buyer), &json!({"payment": payment})).expect(200).text;
        server.delete(&format!("/p/evil/api/holds/{id}"), Some(&buyer));
        seen
    };
    // Every spelling the component's router takes for a confirm (the route table matches
    // segments as they are, so `/API/…` reaches no component at all).
    let paths = ["/p/evil/api/holds/{id}/confirm", "/p/evil//api/holds/{id}/confirm/", "/p/evil/api/holds/{id}/%63onfirm", "/p/evil/api/holds/{id}/CONFIRM;x"];
    for (n, path) in paths.into_iter().enumerate() {
        let seen = pay(path, &card, &format!("R-1-{}", n + 1));
        let (given, outcome) = seen.rsplit_once("\n\n").unwrap();
        // Nothing of the payment reaches the component: its body is `{}`, and no header
        // carries a part of it (the Host line is the server's address).
        let (headers, body) = given.rsplit_once("\n\n").unwrap();
        assert_eq!(body, "{}", "{path}: the component was given {body}");
        for line in headers.lines().filter(|l| !l.starts_with("host:")) {
            for part in ["4242", "731", "Fan", "12/29"] {
                assert!(!line.contains(part), "{path}: the component saw {part} in {line}");
            }
        }
        // The host charged the card it read, so the order stands.
        assert!(outcome.starts_with("Ok(Order"), "{path}: {outcome}");
        assert!(!outcome.contains("4242 4242") && !outcome.contains("4242424242424242"), "{outcome}");
    }
    // A declined card: the component learns the outcome, not the card.
    let declined = pay("/p/evil/api/holds/{id}/confirm", &json!({"card": "4000 0000 0000 0002"}), "R-2-1");
    let (_, outcome) = declined.rsplit_once("\n\n").unwrap();
    assert!(outcome.starts_with("Err(Error::PaymentDeclined") || outcome.starts_with("Err(PaymentDeclined"), "{outcome}");
    assert!(!outcome.contains("0002"), "{outcome}");
    // Card data a component collected on a route of its own is never charged.
    let held = server.post("/p/evil/api/holds", Some(&buyer), &json!({"seat": "R-2-2"})).expect(201).json();
    let id = held["hold_id"].as_str().unwrap();
    let smuggled = server.post(&format!("/p/evil/api/holds/{id}/pay"), Some(&buyer), &json!({"payment": card})).text;
    assert!(!smuggled.contains("Ok(Order"), "{smuggled}");
}

/// Holds seat `seat` of s1 in the gala and pays: the order.
fn buy(server: &Server, token: &str, seat: &str) -> Value {
    buy_in(server, "gala", token, seat)
}

/// Holds seat `seat` of s1 in performance `ns` and pays: the order.
fn buy_in(server: &Server, ns: &str, token: &str, seat: &str) -> Value {
    let hold = hold(server, ns, token, json!({"session": "s1", "seats": [seat]})).expect(201).json();
    confirm(server, ns, token, hold["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json()
}

/// A used ticket is never refunded by its buyer; the seller's cancel still refunds it.
fn a_used_ticket_is_not_the_buyer_s_to_refund(server: &Server) {
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let order = buy(server, &ann, "R-1-1");
    let id = order["order_id"].as_str().unwrap();
    let ticket = json!({"order_id": id, "seat": "R-1-1", "code": order["tickets"][0]["code"]});
    server.post("/api/v1/performances/gala/checkin", Some(&seller), &ticket).expect(200);
    let refused = server.post(&format!("/p/gala/api/orders/{id}/cancel"), Some(&ann), &json!({})).expect(409).json();
    assert_eq!(refused["error"], "already_used", "{refused}");
    assert_eq!(hold(server, "gala", &ann, json!({"session": "s1", "seats": ["R-1-1"]})).expect(409).json()["error"], "unavailable");
    // An undone scan lets the buyer cancel again; a new entry stops it again.
    let undo = json!({"order_id": id, "seat": "R-1-1"});
    server.post("/api/v1/performances/gala/checkin/undo", Some(&seller), &undo).expect(200);
    server.post("/api/v1/performances/gala/checkin", Some(&seller), &ticket).expect(200);
    server.post(&format!("/p/gala/api/orders/{id}/cancel"), Some(&ann), &json!({})).expect(409);
    // A cancelled (refunded) ticket admits no one.
    let bob = server.account("bob@example.com", "buyer");
    let other = buy(server, &bob, "R-1-2");
    let other_id = other["order_id"].as_str().unwrap();
    server.post(&format!("/p/gala/api/orders/{other_id}/cancel"), Some(&bob), &json!({})).expect(200);
    let stale = json!({"order_id": other_id, "seat": "R-1-2", "code": other["tickets"][0]["code"]});
    let scan = server.post("/api/v1/performances/gala/checkin", Some(&seller), &stale).expect(200).json();
    assert_eq!((&scan["valid"], &scan["status"]), (&json!(false), &json!("cancelled")), "{scan}");
    // The seller may still refund on purpose: cancelling the performance refunds every order.
    let cancelled = server.post("/api/v1/performances/gala/cancel", Some(&seller), &json!({})).expect(200).json();
    assert_eq!(cancelled["refunded_orders"], 1);
    let mine = server.get("/api/v1/orders", Some(&ann)).expect(200).json();
    assert_eq!(mine[0]["status"], "cancelled", "{mine}");
}

#[test]
fn a_used_ticket_is_not_refunded_by_its_buyer_embedded() {
    on_embedded(a_used_ticket_is_not_the_buyer_s_to_refund);
}

#[test]
fn a_used_ticket_is_not_refunded_by_its_buyer_on_redis() {
    on_own_redis("e2e-used", a_used_ticket_is_not_the_buyer_s_to_refund);
}

/// Two `marquee up` on one Redis are two control planes of one platform: a change made
/// through either reaches the other, a ticket admits once across both, and one killed leaves
/// the other serving, deploying and selling.
#[test]
fn two_control_planes_on_one_redis_serve_one_platform() {
    let redis = LocalRedis::start("e2e-two-controls", "always").unwrap();
    let url = redis.url();
    let env = [("MARQUEE_STORE", url.as_str())];
    let (first_dir, second_dir) = (DataDir::new(), DataDir::new());
    let first = Server::start_as(&["up"], &first_dir.0, &env);
    let second = Server::start_as(&["up"], &second_dir.0, &env);
    let seller = first.account("seller@example.com", "seller");
    let on_second = second.login("seller@example.com", "a-good-password");

    // Deploy on one, read and serve it on the other; change it there, see it on the first.
    first.deploy(&seller, "gala", "seated", gala_params());
    crate::testkit::soon("the second serves the gala", || second.get("/p/gala/api/info", None).status == 200);
    second.get("/api/v1/performances/gala", Some(&on_second)).expect(200);
    second.patch("/api/v1/performances/gala", Some(&on_second), &json!({"params": {"title": "Gala, moved"}})).expect(200);
    let title = |server: &Server| server.get("/api/v1/performances/gala", Some(&seller)).json()["params"]["title"].clone();
    crate::testkit::soon("the first sees the patch", || title(&first) == "Gala, moved");
    first.post("/api/v1/performances", Some(&seller), &json!({"namespace": "gala", "template": "seated", "params": gala_params()})).expect(409);

    // An admin's template made on one deploys on the other.
    let admin = first.admin();
    let mut house = first.get("/api/v1/templates/seated", None).expect(200).json();
    house["name"] = json!("house");
    house.as_object_mut().unwrap().remove("builtin");
    first.post("/api/v1/templates", Some(&admin), &house).expect(201);
    second.deploy(&on_second, "house-night", "house", gala_params());

    // A ticket's pass checked in through one, with a door token issued there, is used on the other.
    let ann = first.account("ann@example.com", "buyer");
    let order = buy(&first, &ann, "R-1-1");
    let mine = second.get("/api/v1/orders", Some(&ann)).expect(200).json();
    let ticket = json!({"ticket": mine[0]["tickets"][0]["qr"]});
    let door = first.post("/api/v1/performances/gala/door-tokens", Some(&seller), &json!({"label": "north"})).expect(201).json();
    let door = door["token"].as_str().unwrap();
    let admitted = first.post("/api/v1/performances/gala/checkin", Some(door), &ticket).expect(200).json();
    assert_eq!((&admitted["status"], &admitted["order_id"]), (&json!("checked_in"), &order["order_id"]), "{admitted}");
    let again = second.post("/api/v1/performances/gala/checkin", Some(door), &ticket).expect(200).json();
    assert_eq!((&again["valid"], &again["status"]), (&json!(false), &json!("already_used")), "{again}");

    // kill -9 of one: the other keeps serving, deploys and sells; the first comes back with all of it.
    first.kill();
    second.get("/p/gala/api/info", None).expect(200);
    second.deploy(&on_second, "fest", "seated", gala_params());
    let bob = second.account("bob@example.com", "buyer");
    buy_in(&second, "fest", &bob, "R-1-1");
    let back = Server::start_as(&["up"], &first_dir.0, &env);
    let seller = back.login("seller@example.com", "a-good-password");
    for ns in ["gala", "fest", "house-night"] {
        back.get(&format!("/api/v1/performances/{ns}"), Some(&seller)).expect(200);
        back.get(&format!("/p/{ns}/api/info"), None).expect(200);
    }
}

/// What a component may set: an allow list of headers, cookies inside its own `/p/{ns}/`,
/// redirects to its own pages.
#[test]
fn a_component_sets_nothing_outside_its_own_pages() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    hostile_gala(&server, &seller, "evil", "listing");
    let set = |query: &str| server.get(&format!("/p/evil/api/info?do=set&{query}"), None);
    let cookies = |reply: &crate::testkit::Reply| -> Vec<String> {
        reply.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.clone()).collect()
    };
    let bomb = format!("h=Set-Cookie:bomb0={}%3B%20Path=/%3B%20Max-Age=31536000", "A".repeat(3900));
    assert!(cookies(&set(&bomb)).is_empty(), "a cookie for the whole origin was set");
    let own = set("h=Set-Cookie:theme=dark%3B%20Path=/p/evil/%3B%20Max-Age=60");
    assert_eq!(cookies(&own), ["theme=dark; Path=/p/evil/; Max-Age=60"]);
    for refused in ["=mq_sig=evil%3B%20Path=/p/evil/", "mq_sig=evil%3B%20Path=/p/evil/", "a=1%3B%20Path=/p/evil/%3B%20Domain=127.0.0.1", "a=1%3B%20Path=/p/gala/"] {
        assert!(cookies(&set(&format!("h=Set-Cookie:{refused}"))).is_empty(), "{refused} was set");
    }
    // Redirects, read raw (an HTTP client would follow them).
    let redirect = |to: &str| {
        let request = format!("GET /p/evil/api/info?do=set&status=302&h=Location:{to} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = raw(&server, request.as_bytes(), Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
        answer.lines().find_map(|l| l.to_ascii_lowercase().starts_with("location:").then(|| l[9..].trim().to_string()))
    };
    assert_eq!(redirect("https://evil.example/"), None, "an open redirect from the platform's origin");
    assert_eq!(redirect("//evil.example/"), None);
    assert_eq!(redirect("/p/evil/orders").as_deref(), Some("/p/evil/orders"));
    for header in ["NEL", "Report-To", "Reporting-Endpoints", "Alt-Svc", "Service-Worker-Allowed", "Link", "Speculation-Rules", "Set-Login", "Origin-Agent-Cluster", "Referrer-Policy", "Refresh", "X-Anything"] {
        let reply = set(&format!("h={header}:x"));
        assert_eq!(reply.header(header), None, "{header} passed");
    }
    assert_eq!(set("h=Cache-Control:public,%20max-age=31536000").header("cache-control"), None);
    assert_eq!(set("h=Cache-Control:private,%20max-age=60").header("cache-control"), Some("private, max-age=60"));
    assert_eq!(set("h=Content-Language:de").header("content-language"), Some("de"));
}

/// Sends raw bytes as one request and reads the whole answer, within `wait`.
pub(crate) fn raw(server: &Server, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(server.base.strip_prefix("http://").unwrap()).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Logs in as `email` with `password`, as a trusted proxy says `from` asked: the status.
fn login_from(server: &Server, email: &str, from: &str, password: &str) -> u16 {
    let body = json!({"email": email, "password": password}).to_string();
    server.post_raw("/api/v1/auth/login", None, &[("X-Forwarded-For", from)], &body).status
}

#[test]
fn a_stranger_guessing_passwords_never_locks_the_owner_out() {
    let limited = |hourly: &str, dir: &DataDir| {
        Server::start_with(&dir.0, &[("MARQUEE_NO_RATE_LIMITS", "false"), ("MARQUEE_TRUSTED_PROXIES", "127.0.0.1/32"), ("MARQUEE_LOGIN_ACCOUNT_HOURLY_RATE", hourly)])
    };
    let dir = DataDir::new();
    let server = limited("1000", &dir);
    server.account("owner@example.com", "seller");
    let login = |from: &str, password: &str| login_from(&server, "owner@example.com", from, password);
    // One address guesses until it is refused; the owner elsewhere is not.
    let guesses: Vec<u16> = (0..11).map(|_| login("203.0.113.9", "wrong-password")).collect();
    assert_eq!(guesses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429]);
    assert_eq!(login("198.51.100.7", "a-good-password"), 200);
    // IPv6 guessers share their /64.
    for n in 0..10 {
        assert_eq!(login(&format!("2001:db8:1:2::{n:x}"), "wrong-password"), 401);
    }
    assert_eq!(login("2001:db8:1:2::ff", "wrong-password"), 429);
    assert_eq!(login("2001:db8:1:3::1", "wrong-password"), 401);

    // Past the account's own hourly budget (3 here), only an address that has not tried it
    // lately gets a try: each of a botnet's addresses is slowed to one, the owner gets in.
    let dir = DataDir::new();
    let server = limited("3", &dir);
    let signup = json!({"email": "owner@example.com", "password": "a-good-password", "role": "seller"});
    server.post("/api/v1/auth/signup", None, &signup).expect(201);
    let login = |from: &str, password: &str| login_from(&server, "owner@example.com", from, password);
    let guesses: Vec<u16> = (0..5).map(|_| login("192.0.2.1", "wrong-password")).collect();
    assert_eq!(guesses, [401, 401, 401, 401, 429]);
    assert_eq!([login("192.0.2.2", "wrong-password"), login("192.0.2.2", "wrong-password")], [401, 429]);
    assert_eq!(login("198.51.100.8", "a-good-password"), 200);

    // Forwarded headers from anyone but a trusted proxy are not read.
    let dir = DataDir::new();
    let untrusted = Server::start_with(&dir.0, &[("MARQUEE_NO_RATE_LIMITS", "false"), ("MARQUEE_LOGIN_RATE", "2")]);
    let spoofed = |n: u32| login_from(&untrusted, "nobody@example.com", &format!("198.51.100.{n}"), "wrong-password");
    assert_eq!([spoofed(1), spoofed(2), spoofed(3)], [401, 401, 429]);
}

#[test]
fn slow_and_endless_bodies_are_cut_off() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let started = Instant::now();
    let answers: Vec<String> = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            raw(&server, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"e", Duration::from_secs(30))
        });
        let endless = s.spawn(|| {
            let mut stream = TcpStream::connect(server.base.strip_prefix("http://").unwrap()).unwrap();
            stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            stream.write_all(b"POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if stream.write_all(b"1\r\n \r\n").is_err() {
                    break;
                }
                let mut buf = [0u8; 4096];
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            String::from_utf8_lossy(&answer).into_owned()
        });
        let payment = s.spawn(|| {
            let buyer = server.account("fan@example.com", "buyer");
            let request = format!(
                "POST /p/gala/api/holds/h_x/confirm HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {buyer}\r\nContent-Length: 5000\r\n\r\n{{"
            );
            raw(&server, request.as_bytes(), Duration::from_secs(30))
        });
        [slow, endless, payment].map(|t| t.join().unwrap()).into()
    });
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(25), "cut off only after {:?}", started.elapsed());
}

#[test]
fn while_redis_is_down_every_call_is_told_so_at_once() {
    let redis = LocalRedis::start("e2e-down", "always").unwrap();
    let dir = DataDir::new();
    let server = on_redis(&dir, &redis);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let buyer = server.account("fan@example.com", "buyer");
    server.get("/readyz", None).expect(200);
    redis.pause().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    for (path, token) in [("/p/gala/api/info", None), ("/api/v1/orders", Some(buyer.as_str())), ("/api/v1/catalog", None)] {
        let asked = Instant::now();
        let reply = server.get(path, token);
        assert!(asked.elapsed() < Duration::from_secs(1), "{path} took {:?}", asked.elapsed());
        assert_eq!((reply.status, reply.header("retry-after")), (503, Some("1")), "{path}: {}", reply.text);
        assert_eq!(reply.json()["error"], "store_unavailable");
    }
    assert_eq!(server.get("/readyz", None).expect(503).json()["error"], "not_ready");
    server.get("/healthz", None).expect(200);
    redis.resume().unwrap();
    crate::testkit::soon("the store answers again", || server.get("/readyz", None).status == 200);
    server.get("/p/gala/api/info", None).expect(200);
}

#[test]
fn tokens_of_a_deleted_performance_and_look_alike_accounts_are_refused() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let (sam, rival) = (server.account("sam@example.com", "seller"), server.account("rival@example.com", "seller"));
    server.deploy(&sam, "reuse", "seated", gala_params());
    let buyer = server.account("fan@example.com", "buyer");
    let scoped = server.post("/api/v1/auth/namespace-token", Some(&buyer), &json!({"namespace": "reuse"})).expect(200).json();
    let scoped = scoped["access_token"].as_str().unwrap().to_string();
    hold(&server, "reuse", &scoped, json!({"session": "s1", "seats": ["R-1-1"]})).expect(201);
    server.delete("/api/v1/performances/reuse", Some(&sam)).expect(204);
    server.deploy(&rival, "reuse", "seated", gala_params());
    hold(&server, "reuse", &scoped, json!({"session": "s1", "seats": ["R-1-2"]})).expect(401);

    let issued = server.post("/api/v1/performances/reuse/tokens", Some(&rival), &json!({}));
    assert_eq!(issued.expect(201).header("cache-control"), Some("no-store"));

    for email in ["s\u{430}m@example.com", "sam\u{200b}@example.com", "sam@example.com\u{202e}", "sam@exam\u{ff50}le.com"] {
        let body = json!({"email": email, "password": "a-good-password", "role": "buyer"});
        assert_eq!(server.post("/api/v1/auth/signup", None, &body).expect(400).json()["error"], "invalid_email", "{email}");
    }
}
