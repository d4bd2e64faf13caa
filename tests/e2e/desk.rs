//! The seller's desk: sales, the orders list with search and paging, refunds of a whole order
//! or of one ticket, and the CSV exports; on both stores.

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::door::{buy, pass};
use crate::testkit::{DataDir, Server, gala_params};

/// Seat R's price in `gala_params`, in minor units.
const R: u64 = 120000;

fn sales(server: &Server, token: &str) -> Value {
    sales_of(server, "gala", token)
}

/// The `R` section's counts in session s1.
fn section_r(sales: &Value) -> (u64, u64, u64) {
    let r = &sales["sessions"][0]["sections"][0];
    assert_eq!(r["name"], "R");
    (r["sold"].as_u64().unwrap(), r["held"].as_u64().unwrap(), r["free"].as_u64().unwrap())
}

fn orders(server: &Server, token: &str, query: &str) -> Vec<String> {
    let list = server.get(&format!("/api/v1/performances/gala/orders?{query}"), Some(token)).expect(200).json();
    list.as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()).collect()
}

/// A CSV body as rows of cells, its header first.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.expect("the export parses as CSV").iter().map(str::to_owned).collect()).collect()
}

fn the_seller_s_desk(server: &Server) {
    let seller = server.account("seller@example.com", "seller");
    let rival = server.account("rival@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let bob = server.account("bob@example.com", "buyer");
    let first = buy(server, "gala", &ann, "R-1-1");
    let second = crate::door::buy_seats(server, "gala", &ann, &["R-1-2", "R-1-3"]);
    let third = buy(server, "gala", &bob, "R-2-1");
    server.post("/p/gala/api/holds", Some(&bob), &json!({"session": "s1", "seats": ["R-9-9"]})).expect(201);

    // Sales: money and counts, kept as the orders came.
    let figures = sales(server, &seller);
    assert_eq!((&figures["currency"], &figures["gross"], &figures["refunded"], &figures["net"]), (&json!("EUR"), &json!(4 * R), &json!(0), &json!(4 * R)));
    assert_eq!(section_r(&figures), (4, 1, 200 - 5));
    assert_eq!(figures["sessions"][0]["id"], "s1");
    assert_eq!(figures["sessions"][0]["starts_at"], "2027-03-01T19:00:00Z");
    assert_eq!(figures["sessions"][0]["gross"], 4 * R);

    // Only the owner (or an admin) sees the desk.
    for path in ["sales", "orders", "orders.csv", "attendees.csv", &format!("orders/{first}")] {
        server.get(&format!("/api/v1/performances/gala/{path}"), Some(&rival)).expect(403);
        server.get(&format!("/api/v1/performances/gala/{path}"), Some(&ann)).expect(403);
    }
    server.post(&format!("/api/v1/performances/gala/orders/{first}/refund"), Some(&rival), &json!({})).expect(403);

    // Search by email, order id and seat id; filters; pages.
    assert_eq!(orders(server, &seller, ""), [first.as_str(), second.as_str(), third.as_str()]);
    assert_eq!(orders(server, &seller, "q=ANN%40example.com"), [first.as_str(), second.as_str()]);
    assert_eq!(orders(server, &seller, &format!("q={second}")), [second.as_str()]);
    assert_eq!(orders(server, &seller, "q=r-1-3"), [second.as_str()]);
    assert_eq!(orders(server, &seller, "q=nobody%40example.com"), Vec::<String>::new());
    assert_eq!(orders(server, &seller, "session=s2"), Vec::<String>::new());
    assert_eq!(orders(server, &seller, "status=cancelled"), Vec::<String>::new());
    assert_eq!(orders(server, &seller, "from=2999-01-01T00:00:00Z"), Vec::<String>::new());
    let page = server.get("/api/v1/performances/gala/orders?q=ann%40example.com&limit=1", Some(&seller)).expect(200);
    assert_eq!(page.header("x-total-count"), Some("2"));
    let link = page.header("link").expect("a next page");
    assert!(link.contains("q=ann%40example.com&limit=1&offset=1"), "{link}");
    assert_eq!(page.json()[0]["buyer"]["email"], "ann@example.com");
    assert_eq!(orders(server, &seller, "q=ann%40example.com&limit=1&offset=1"), [second.as_str()]);
    for bad in ["status=lost", "limit=0", "from=yesterday", "colour=red"] {
        server.get(&format!("/api/v1/performances/gala/orders?{bad}"), Some(&seller)).expect(400);
    }

    // One ticket refunded: its price paid back, its seat on sale again, its pass admits nobody.
    let qr = pass(server, &ann, &second);
    let refund = |order: &str, body: Value| server.post(&format!("/api/v1/performances/gala/orders/{order}/refund"), Some(&seller), &body);
    let one = refund(&second, json!({"seats": ["R-1-2"]})).expect(200).json();
    assert_eq!((&one["refund"]["amount"], &one["refund"]["tickets"]), (&json!(R), &json!(["R-1-2"])));
    assert_eq!((&one["status"], &one["refunded"], &one["amount"]), (&json!("confirmed"), &json!(R), &json!(2 * R)));
    assert_eq!(one["tickets"][0]["refunded"], true);
    let events: Vec<&str> = one["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["confirmed", "refunded"]);
    let door = server.post("/api/v1/performances/gala/checkin", Some(&seller), &json!({"ticket": qr})).expect(200).json();
    assert_eq!((&door["valid"], &door["status"]), (&json!(false), &json!("refunded")), "{door}");
    refund(&second, json!({"seats": ["R-1-2"]})).expect(409);
    assert_eq!(refund(&second, json!({"seats": ["R-7-7"]})).expect(404).json()["field"], "seats", "a ticket the order does not have");
    refund(&second, json!({"seats": ["R-1-3", "R-1-3"]})).expect(400);
    refund(&second, json!({"seats": []})).expect(400);
    refund("o_nope", json!({})).expect(404);
    let resold = buy(server, "gala", &bob, "R-1-2");
    let figures = sales(server, &seller);
    assert_eq!((&figures["gross"], &figures["refunded"], &figures["net"]), (&json!(5 * R), &json!(R), &json!(4 * R)));

    // The rest of the order, and a whole order: never more than was paid.
    let rest = refund(&second, json!({})).expect(200).json();
    assert_eq!((&rest["refund"]["amount"], &rest["status"], &rest["refunded"]), (&json!(R), &json!("refunded"), &json!(2 * R)));
    refund(&second, json!({})).expect(409);
    let whole = refund(&first, json!({})).expect(200).json();
    assert_eq!((&whole["refund"]["amount"], &whole["status"]), (&json!(R), &json!("refunded")));
    let figures = sales(server, &seller);
    assert_eq!((&figures["gross"], &figures["refunded"], &figures["net"]), (&json!(5 * R), &json!(3 * R), &json!(2 * R)));
    assert_eq!(section_r(&figures), (2, 1, 200 - 3));
    assert_eq!(orders(server, &seller, "status=refunded"), [first.as_str(), second.as_str()]);
    // The buyer sees what was paid back.
    let mine = server.get("/api/v1/orders", Some(&ann)).expect(200).json();
    let seen = mine.as_array().unwrap().iter().find(|o| o["order_id"] == second.as_str()).unwrap().clone();
    assert_eq!((&seen["status"], &seen["refunded"]), (&json!("refunded"), &json!(2 * R)));

    // A check-in shows in the order's history.
    server.post("/api/v1/performances/gala/checkin", Some(&seller), &json!({"ticket": pass(server, &bob, &third), "door": "B"})).expect(200);
    let detail = server.get(&format!("/api/v1/performances/gala/orders/{third}"), Some(&seller)).expect(200).json();
    let last = detail["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["event"], &last["seat"], &last["door"]), (&json!("checked_in"), &json!("R-2-1"), &json!("B")));
    server.get("/api/v1/performances/gala/orders/o_nope", Some(&seller)).expect(404);

    // The exports parse, one row per order and one per ticket.
    let csv = server.get("/api/v1/performances/gala/orders.csv", Some(&seller)).expect(200);
    assert!(csv.header("content-type").is_some_and(|t| t.starts_with("text/csv")));
    let rows = csv_rows(&csv.text);
    assert_eq!(rows[0][..4], ["order_id", "created_at", "session", "status"]);
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), third.as_str(), resold.as_str()]);
    assert_eq!(rows[2][3..9], ["refunded", "ann@example.com", "2", "R-1-2 R-1-3", &(2 * R).to_string(), &(2 * R).to_string()]);
    let attendees = csv_rows(&server.get("/api/v1/performances/gala/attendees.csv", Some(&seller)).expect(200).text);
    assert_eq!(attendees.len(), 1 + 5, "a row per ticket");
    let used = attendees.iter().find(|r| r[2] == "R-2-1").unwrap();
    assert_eq!((used[3].as_str(), used[4].as_str(), used[7].as_str()), ("confirmed", "bob@example.com", "B"));
    assert!(!used[6].is_empty(), "when it was checked in");
}

#[test]
fn the_seller_s_desk_on_the_embedded_store() {
    let dir = DataDir::new();
    the_seller_s_desk(&Server::start(&dir));
}

#[test]
fn the_seller_s_desk_on_redis() {
    let redis = LocalRedis::start("e2e-desk", "always").unwrap();
    let dir = DataDir::new();
    the_seller_s_desk(&Server::start_with(&dir.0, &[("MARQUEE_STORE", &redis.url())]));
}

/// A seller changes the prices of what has not sold, on `control`, and holds made on `sells`
/// (the same process, or a runtime sharing its store) cost the new price; what sold or is held
/// keeps its price, and nothing but prices may change.
fn prices_change_for_what_has_not_sold(control: &Server, sells: &Server) {
    let seller = control.account("seller@example.com", "seller");
    let rival = control.account("rival@example.com", "seller");
    let ann = control.account("ann@example.com", "buyer");
    let fest = json!({
        "title": "Fest", "venue": "Meadow",
        "sessions": [{"id": "s1", "starts_at": "2027-07-01T12:00:00Z"}, {"id": "s2", "starts_at": "2027-07-02T12:00:00Z"}],
        "sections": [{"name": "GA", "price": 5000, "capacity": 100}, {"name": "VIP", "price": 9000, "capacity": 10}],
        "goods": [{"name": "SHIRT", "price": 2500, "stock": 5}, {"name": "MUG", "price": 1200, "stock": 5}],
        "per_buyer_limit": 4
    });
    control.deploy(&seller, "fest", "festival", fest.clone());
    crate::testkit::soon("the festival is served", || sells.get("/p/fest/api/info", None).status == 200);
    let hold = |body: Value| sells.post("/p/fest/api/holds", Some(&ann), &body).expect(201).json();
    // GA sells in the second session only, a shirt is held; VIP and mugs sell nothing.
    let ga = hold(json!({"session": "s2", "section": "GA", "quantity": 1}));
    crate::booking::confirm(sells, "fest", &ann, ga["hold_id"].as_str().unwrap(), crate::booking::GOOD_CARD).expect(201);
    hold(json!({"session": "s1", "goods": [{"name": "SHIRT", "quantity": 1}], "sections": []}));

    let patch = |sections: Value, goods: Value| control.patch("/api/v1/performances/fest", Some(&seller), &json!({"params": {"sections": sections, "goods": goods}}));
    let (sections, goods) = (fest["sections"].clone(), fest["goods"].clone());
    let with = |list: &Value, i: usize, key: &str, value: Value| {
        let mut list = list.clone();
        list[i][key] = value;
        list
    };
    // What has sold (in any session) or is held keeps its price.
    let locked = patch(with(&sections, 0, "price", json!(6000)), goods.clone()).expect(409).json();
    assert_eq!((&locked["error"], &locked["field"]), (&json!("price_locked"), &json!("params.sections[0].price")), "{locked}");
    let locked = patch(sections.clone(), with(&goods, 0, "price", json!(3000))).expect(409).json();
    assert_eq!(locked["field"], "params.goods[0].price", "a held shirt keeps its price too");
    // Nothing but prices changes: not a size, a name, the order, nor a section more or less.
    for (sections, goods, field) in [
        (with(&sections, 1, "capacity", json!(20)), goods.clone(), "params.sections[1].capacity"),
        (with(&sections, 1, "name", json!("VVIP")), goods.clone(), "params.sections[1].name"),
        (json!([sections[1], sections[0]]), goods.clone(), "params.sections[0].name"),
        (json!([sections[0]]), goods.clone(), "params.sections"),
        (sections.clone(), with(&goods, 1, "stock", json!(50)), "params.goods[1].stock"),
        (sections.clone(), json!([goods[0]]), "params.goods"),
    ] {
        let refused = patch(sections, goods).expect(400).json();
        assert_eq!((&refused["error"], &refused["field"]), (&json!("not_patchable"), &json!(field)), "{refused}");
    }
    // Only the owner changes them.
    control.patch("/api/v1/performances/fest", Some(&rival), &json!({"params": {"sections": with(&sections, 1, "price", json!(1))}})).expect(403);

    // Unsold VIP tickets and mugs take new prices; the page and the next hold say so.
    patch(with(&sections, 1, "price", json!(12000)), with(&goods, 1, "price", json!(1500))).expect(200);
    crate::testkit::soon("the new prices are served", || sells.get("/p/fest/api/info", None).json()["sections"][1]["price"] == 12000);
    let vip = hold(json!({"session": "s1", "section": "VIP", "quantity": 2, "goods": [{"name": "MUG", "quantity": 1}]}));
    assert_eq!(vip["amount"], 2 * 12000 + 1500, "{vip}");
    let order = crate::booking::confirm(sells, "fest", &ann, vip["hold_id"].as_str().unwrap(), crate::booking::GOOD_CARD).expect(201).json();
    assert_eq!(order["amount"], 2 * 12000 + 1500);
    // The GA order bought before keeps what it paid; the sales add both up.
    let figures = sales_of(control, "fest", &seller);
    assert_eq!(figures["gross"], 5000 + 2 * 12000 + 1500, "{figures}");
    // Sold now, VIP's price is fixed again.
    patch(with(&sections, 1, "price", json!(1)), goods.clone()).expect(409);

    // Sessions keep their ids and times; their labels change.
    let sessions = fest["sessions"].clone();
    let relabel = |sessions: Value| control.patch("/api/v1/performances/fest", Some(&seller), &json!({"params": {"sessions": sessions}}));
    relabel(with(&sessions, 0, "label", json!("Day one"))).expect(200);
    crate::testkit::soon("the new label is served", || sells.get("/p/fest/api/info", None).json()["sessions"][0]["label"] == "Day one");
    for (sessions, field) in [
        (with(&sessions, 1, "starts_at", json!("2027-07-03T12:00:00Z")), "params.sessions[1].starts_at"),
        (with(&sessions, 1, "id", json!("s3")), "params.sessions[1].id"),
        (json!([sessions[0]]), "params.sessions"),
    ] {
        let refused = relabel(sessions).expect(400).json();
        assert_eq!((&refused["error"], &refused["field"]), (&json!("not_patchable"), &json!(field)), "{refused}");
    }
    // The same instant written another way is no change.
    relabel(with(&sessions, 0, "starts_at", json!("2027-07-01T14:00:00+02:00"))).expect(200);
}

fn sales_of(server: &Server, ns: &str, token: &str) -> Value {
    server.get(&format!("/api/v1/performances/{ns}/sales"), Some(token)).expect(200).json()
}

#[test]
fn prices_change_for_what_has_not_sold_embedded() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    prices_change_for_what_has_not_sold(&server, &server);
}

#[test]
fn prices_change_for_what_has_not_sold_on_a_runtime_sharing_redis() {
    let redis = LocalRedis::start("e2e-prices", "always").unwrap();
    let dirs = [DataDir::new(), DataDir::new()];
    let env = [("MARQUEE_STORE", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let control = Server::start_as(&["control"], &dirs[0].0, &env);
    let runtime = Server::start_as(&["runtime"], &dirs[1].0, &env);
    prices_change_for_what_has_not_sold(&control, &runtime);
}

/// The Vienna gala as its seller describes it: in won, in Vienna's time, with a cast.
pub(crate) fn vienna_params() -> Value {
    let mut params = gala_params();
    params["currency"] = json!("KRW");
    params["time_zone"] = json!("Europe/Vienna");
    params["description"] = json!("A night of Strauss.\nTwo acts.");
    params["cast"] = json!(["Anna Netrebko", "Jonas Kaufmann"]);
    params["running_minutes"] = json!(150);
    params["sessions"] = json!([{"id": "s1", "starts_at": "2027-03-01T19:00:00Z", "label": "Opening night"}]);
    params
}

#[test]
fn a_performance_names_its_currency_time_zone_cast_and_running_time() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", vienna_params());
    let info = server.get("/p/gala/api/info", None).expect(200).json();
    assert_eq!((&info["currency"], &info["time_zone"], &info["running_minutes"]), (&json!("KRW"), &json!("Europe/Vienna"), &json!(150)));
    assert_eq!((&info["description"], &info["cast"][1]), (&json!("A night of Strauss.\nTwo acts."), &json!("Jonas Kaufmann")));
    assert_eq!(info["sessions"][0]["label"], "Opening night");
    // A performance that names neither sells in euros on UTC's clock, as every one did before.
    server.deploy(&seller, "plain", "seated", gala_params());
    let plain = server.get("/p/plain/api/info", None).expect(200).json();
    assert_eq!((&plain["currency"], &plain["time_zone"]), (&json!("EUR"), &json!("UTC")));

    // The money and the tickets say it too.
    let ann = server.account("ann@example.com", "buyer");
    buy(&server, "gala", &ann, "R-1-1");
    assert_eq!((&sales(&server, &seller)["currency"], &sales(&server, &seller)["sessions"][0]["label"]), (&json!("KRW"), &json!("Opening night")));
    let mine = server.get("/api/v1/orders", Some(&ann)).expect(200).json();
    assert_eq!((&mine[0]["currency"], &mine[0]["time_zone"]), (&json!("KRW"), &json!("Europe/Vienna")));
    assert_eq!((&mine[0]["starts_at"], &mine[0]["session_label"]), (&json!("2027-03-01T19:00:00Z"), &json!("Opening night")));
    let csv = csv_rows(&server.get("/api/v1/performances/gala/orders.csv", Some(&seller)).expect(200).text);
    assert_eq!(csv[1][9], "KRW");

    // Each is checked; the time zone may change later, the currency may not.
    for (field, value, at) in [
        ("currency", json!("XXX"), "currency"),
        ("currency", json!("eur"), "currency"),
        ("currency", json!("EURO"), "currency"),
        ("time_zone", json!("Mars/Olympus_Mons"), "time_zone"),
        ("running_minutes", json!(0), "running_minutes"),
        ("cast", json!([""]), "cast[0]"),
    ] {
        let mut params = gala_params();
        params[field] = value;
        let refused = server.post("/api/v1/performances", Some(&seller), &json!({"namespace": "bad", "template": "seated", "params": params})).expect(400).json();
        assert_eq!(refused["field"], format!("params.{at}"), "{refused}");
    }
    let mut unlabelled = gala_params();
    unlabelled["sessions"] = json!([{"id": "s1", "starts_at": "2027-03-01T19:00:00Z", "label": " "}]);
    let refused = server.post("/api/v1/performances", Some(&seller), &json!({"namespace": "bad", "template": "seated", "params": unlabelled})).expect(400).json();
    assert_eq!(refused["field"], "params.sessions[0].label");
    server.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"time_zone": "America/New_York", "cast": ["Elīna Garanča"]}})).expect(200);
    assert_eq!(server.get("/p/gala/api/info", None).expect(200).json()["time_zone"], "America/New_York");
    // The desk's details form sends every detail, null for one taken away.
    let details = json!({"title": "Gala II", "venue": "Hall A", "description": null, "cast": null, "running_minutes": null, "time_zone": "UTC"});
    server.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": details})).expect(200);
    let info = server.get("/p/gala/api/info", None).expect(200).json();
    assert_eq!((&info["title"], &info["description"], &info["cast"], &info["time_zone"]), (&json!("Gala II"), &Value::Null, &Value::Null, &json!("UTC")));
    let refused = server.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"currency": "USD"}})).expect(400).json();
    assert_eq!(refused["error"], "not_patchable");
}
