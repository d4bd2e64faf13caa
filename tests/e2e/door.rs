//! The door: a ticket's QR code alone admits, once, scanned with a door token that can do
//! nothing else; on both stores.

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::booking::{GOOD_CARD, confirm, hold};
use crate::testkit::{DataDir, Server, gala_params};

/// Holds `seat` of s1 in `ns` and pays: the order's id.
pub(crate) fn buy(server: &Server, ns: &str, token: &str, seat: &str) -> String {
    buy_seats(server, ns, token, &[seat])
}

/// Holds `seats` of s1 in `ns` in one order and pays: the order's id.
pub(crate) fn buy_seats(server: &Server, ns: &str, token: &str, seats: &[&str]) -> String {
    let held = hold(server, ns, token, json!({"session": "s1", "seats": seats})).expect(201).json();
    let order = confirm(server, ns, token, held["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json();
    order["order_id"].as_str().unwrap().to_owned()
}

/// The pass (the QR code's text) of an order's first ticket, as its buyer's tickets show it.
pub(crate) fn pass(server: &Server, buyer: &str, order: &str) -> String {
    let orders = server.get("/api/v1/orders", Some(buyer)).expect(200).json();
    let order = orders.as_array().unwrap().iter().find(|o| o["order_id"] == order).expect("the buyer sees the order");
    order["tickets"][0]["qr"].as_str().expect("each ticket has its pass").to_owned()
}

fn scan(server: &Server, token: &str, body: Value) -> Value {
    server.post("/api/v1/performances/gala/checkin", Some(token), &body).expect(200).json()
}

fn a_ticket_s_qr_code_admits_once_with_a_door_token(server: &Server) {
    let seller = server.account("seller@example.com", "seller");
    let rival = server.account("rival@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    server.deploy(&rival, "other", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let first = buy(server, "gala", &ann, "R-2-2");
    let second = buy(server, "gala", &ann, "R-2-3");
    let elsewhere = buy(server, "other", &ann, "R-2-2");
    let qr = pass(server, &ann, &first);
    assert!(qr.starts_with(&format!("MQ1.gala.s1.{first}.R-2-2.")), "{qr}");
    let sellers_view = server.get("/api/v1/performances/gala/orders", Some(&seller)).expect(200).json();
    let listed = sellers_view.as_array().unwrap().iter().find(|o| o["order_id"] == first.as_str()).unwrap();
    assert_eq!(listed["tickets"][0]["qr"], qr.as_str(), "the seller sees the same pass");
    let key = server.get("/api/v1/performances/gala", Some(&seller)).expect(200).json()["ticket_key"].clone();
    assert_eq!(key.as_str().map(str::len), Some(43), "the public key that checks passes offline: {key}");

    // The owner issues a door token; nobody else may, and a label is required.
    let issued = server.post("/api/v1/performances/gala/door-tokens", Some(&seller), &json!({"label": "door B"})).expect(201).json();
    assert_eq!(issued["label"], "door B");
    let door = issued["token"].as_str().unwrap().to_owned();
    server.post("/api/v1/performances/gala/door-tokens", Some(&rival), &json!({"label": "x"})).expect(403);
    server.post("/api/v1/performances/gala/door-tokens", Some(&ann), &json!({"label": "x"})).expect(403);
    let unlabelled = server.post("/api/v1/performances/gala/door-tokens", Some(&seller), &json!({"label": ""})).expect(400).json();
    assert_eq!(unlabelled["field"], "label");

    // The pass alone admits, once; the answer names the ticket.
    let admitted = scan(server, &door, json!({"ticket": qr, "door": "B"}));
    assert_eq!((&admitted["valid"], &admitted["status"]), (&json!(true), &json!("checked_in")), "{admitted}");
    assert_eq!((&admitted["order_id"], &admitted["seat"], &admitted["session"]), (&json!(first), &json!("R-2-2"), &json!("s1")));
    let again = scan(server, &door, json!({"ticket": qr, "door": "A"}));
    assert_eq!((&again["status"], &again["door"], &again["checked_in_at"]), (&json!("already_used"), &json!("B"), &admitted["checked_in_at"]));
    // A scan undone admits again, and once.
    let arrived = |n: u64| json!({"sessions": [{"id": "s1", "arrived": n}]});
    assert_eq!(server.get("/api/v1/performances/gala/checkin", Some(&door)).expect(200).json(), arrived(1), "arrivals at every door");
    let undo = json!({"order_id": first, "seat": "R-2-2"});
    server.post("/api/v1/performances/gala/checkin/undo", Some(&door), &undo).expect(200);
    assert_eq!(server.get("/api/v1/performances/gala/checkin", Some(&seller)).expect(200).json(), arrived(0));
    assert_eq!(scan(server, &door, json!({"ticket": qr}))["status"], "checked_in");
    assert_eq!(scan(server, &door, json!({"ticket": qr}))["status"], "already_used");

    // A pass altered, of another performance, or of a cancelled order admits nobody.
    let unknown = json!({"valid": false, "status": "unknown"});
    assert_eq!(scan(server, &door, json!({"ticket": qr.replace("R-2-2", "R-2-4")})), unknown);
    assert_eq!(scan(server, &door, json!({"ticket": pass(server, &ann, &elsewhere)})), unknown);
    assert_eq!(scan(server, &door, json!({"ticket": "order 1, seat R-2-2"})), unknown);
    let cancelled_pass = pass(server, &ann, &second);
    server.post(&format!("/p/gala/api/orders/{second}/cancel"), Some(&ann), &json!({})).expect(200);
    let refused = scan(server, &door, json!({"ticket": cancelled_pass}));
    assert_eq!((&refused["valid"], &refused["status"]), (&json!(false), &json!("cancelled")), "{refused}");
    // One way of naming a ticket per scan.
    let both = json!({"ticket": qr, "order_id": first, "seat": "R-2-2", "code": "x"});
    assert_eq!(server.post("/api/v1/performances/gala/checkin", Some(&door), &both).expect(400).json()["error"], "invalid_request");

    // The door token does nothing else: not the performance, not its orders, not another door,
    // not a buyer's or a seller's calls.
    server.get("/api/v1/performances/gala", Some(&door)).expect(403);
    server.patch("/api/v1/performances/gala", Some(&door), &json!({"params": {"title": "Mine"}})).expect(403);
    server.get("/api/v1/performances/gala/orders", Some(&door)).expect(403);
    server.get("/api/v1/performances/other/checkin", Some(&door)).expect(403);
    server.get("/api/v1/performances/gala/checkin", Some(&ann)).expect(403);
    server.post("/api/v1/performances/gala/door-tokens", Some(&door), &json!({"label": "more"})).expect(403);
    server.post("/api/v1/performances/gala/tokens", Some(&door), &json!({})).expect(403);
    server.post("/api/v1/performances/other/checkin", Some(&door), &json!({"ticket": pass(server, &ann, &elsewhere)})).expect(403);
    server.post("/api/v1/performances", Some(&door), &json!({"namespace": "x", "template": "seated", "params": gala_params()})).expect(403);
    server.get("/api/v1/orders", Some(&door)).expect(403);
    hold(server, "gala", &door, json!({"session": "s1", "seats": ["R-5-5"]})).expect(401);

    // Revoked, it admits nobody; a deploy token is not a door token to revoke.
    let id = issued["id"].as_str().unwrap();
    let deploy_token = server.post("/api/v1/performances/gala/tokens", Some(&seller), &json!({})).expect(201).json();
    server.delete(&format!("/api/v1/performances/gala/door-tokens/{}", deploy_token["id"].as_str().unwrap()), Some(&seller)).expect(404);
    server.delete(&format!("/api/v1/performances/gala/door-tokens/{id}"), Some(&rival)).expect(403);
    server.delete(&format!("/api/v1/performances/gala/door-tokens/{id}"), Some(&seller)).expect(204);
    server.delete(&format!("/api/v1/performances/gala/door-tokens/{id}"), Some(&seller)).expect(404);
    server.post("/api/v1/performances/gala/checkin", Some(&door), &json!({"ticket": qr})).expect(401);
}

#[test]
fn a_ticket_s_qr_code_admits_once_with_a_door_token_on_the_embedded_store() {
    let dir = DataDir::new();
    a_ticket_s_qr_code_admits_once_with_a_door_token(&Server::start(&dir));
}

#[test]
fn a_ticket_s_qr_code_admits_once_with_a_door_token_on_redis() {
    let redis = LocalRedis::start("e2e-door", "always").unwrap();
    let dir = DataDir::new();
    a_ticket_s_qr_code_admits_once_with_a_door_token(&Server::start_with(&dir.0, &[("MARQUEE_STORE", &redis.url())]));
}
