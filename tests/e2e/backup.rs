//! Backups: taken while a booking load runs, restored from the embedded store into Redis
//! (served by `marquee control` + `marquee runtime`) and back; refused when cut off, altered or
//! aimed at a store that holds a platform.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use std::time::{Duration, Instant};

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::booking::{GOOD_CARD, confirm, hold};
use crate::door::buy_seats;
use crate::testkit::{DataDir, Server, all_orders, gala_params};

fn marquee(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marquee")).args(args).envs(env.iter().copied()).env_remove("MARQUEE_TOKEN").output().expect("the marquee binary runs")
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a backup of `server` to `to` with the CLI.
fn back_up(server: &Server, admin: &str, to: &Path) -> String {
    succeeded(&marquee(&["backup", "--to", to.to_str().unwrap(), "--url", &server.base, "--token", admin], &[]))
}

/// A house of 2,000 numbered seats besides the gala's sections, for the load.
fn big_house() -> Value {
    let mut params = gala_params();
    params["sections"] = json!([{"name": "R", "price": 120000, "rows": 10, "seats_per_row": 20}, {"name": "B", "price": 1000, "rows": 50, "seats_per_row": 40}]);
    params["per_buyer_limit"] = json!(10000);
    params
}

/// Buyers buy seats of B one after another until `stop`; every fifth order is cancelled at
/// once and its seat bought again, so seats are freed and taken while a backup reads. Each
/// order acknowledged, with when.
fn load(server: &Server, buyers: &[String], stop: &AtomicBool) -> Vec<(String, Instant)> {
    let next = AtomicU32::new(0);
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for buyer in buyers {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= 2000 {
                        break;
                    }
                    let seat = format!("B-{}-{}", n / 40 + 1, n % 40 + 1);
                    for round in 0..2 {
                        let held = hold(server, "gala", buyer, json!({"session": "s1", "seats": [seat]})).expect(201).json();
                        let order = confirm(server, "gala", buyer, held["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json();
                        let id = order["order_id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push((id.clone(), Instant::now()));
                        if !n.is_multiple_of(5) || round == 1 {
                            break;
                        }
                        server.post(&format!("/p/gala/api/orders/{id}/cancel"), Some(buyer), &json!({})).expect(200);
                    }
                }
            });
        }
    });
    acked.into_inner().unwrap()
}

/// What a platform holds, as its admin sees it: each performance's orders by id with their
/// status and refunds.
fn orders_of(server: &Server, admin: &str, ns: &str) -> std::collections::BTreeMap<String, (Value, Value)> {
    all_orders(server, admin, ns).into_iter().map(|o| (o.order_id(), (o["status"].clone(), o["refunded"].clone()))).collect()
}

trait OrderId {
    fn order_id(&self) -> String;
}

impl OrderId for Value {
    fn order_id(&self) -> String {
        self["order_id"].as_str().unwrap().to_owned()
    }
}

/// No seat is in two confirmed orders.
fn no_seat_twice(server: &Server, admin: &str) {
    let mut seen = std::collections::HashSet::new();
    for order in all_orders(server, admin, "gala").iter().filter(|o| o["status"] == "confirmed") {
        for ticket in order["tickets"].as_array().unwrap().iter().filter(|t| t["refunded"] != true) {
            assert!(seen.insert(ticket["seat"].as_str().unwrap().to_owned()), "{} is sold twice", ticket["seat"]);
        }
    }
}

#[test]
fn a_platform_backed_up_under_load_restores_into_redis_and_back() {
    let dir = DataDir::new();
    let a = Server::start(&dir);
    let admin = a.admin();
    let seller = a.account("seller@example.com", "seller");
    let ann = a.account("ann@example.com", "buyer");
    let bob = a.account("bob@example.com", "buyer");
    a.deploy(&seller, "gala", "seated", big_house());
    let fest = json!({
        "title": "Fest", "venue": "Meadow", "sessions": [{"id": "s1", "starts_at": "2027-07-01T12:00:00Z"}],
        "sections": [{"name": "GA", "price": 5000, "capacity": 100}], "goods": [{"name": "SHIRT", "price": 2500, "stock": 5}], "per_buyer_limit": 4
    });
    a.deploy(&seller, "fest", "festival", fest);
    crate::isolation::upload(&a, &seller, "mypage", &std::fs::read(env!("MARQUEE_HOSTILE_WASM")).unwrap()).expect(201);
    let own = json!({"namespace": "own", "template": "seated", "params": gala_params(), "components": {"listing": "mypage@1.0.0"}});
    a.post("/api/v1/performances", Some(&seller), &own).expect(201);
    // A used ticket, a refunded one, goods, a door token and a component's kv.
    let used = buy_seats(&a, "gala", &ann, &["R-1-1"]);
    let pass = crate::door::pass(&a, &ann, &used);
    a.post("/api/v1/performances/gala/checkin", Some(&seller), &json!({"ticket": pass, "door": "B"})).expect(200);
    let partly = buy_seats(&a, "gala", &bob, &["R-1-2", "R-1-3"]);
    a.post(&format!("/api/v1/performances/gala/orders/{partly}/refund"), Some(&seller), &json!({"seats": ["R-1-3"]})).expect(200);
    let shirts = hold(&a, "fest", &ann, json!({"session": "s1", "section": "GA", "quantity": 2, "goods": [{"name": "SHIRT", "quantity": 2}]})).expect(201).json();
    confirm(&a, "fest", &ann, shirts["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201);
    let door = a.post("/api/v1/performances/gala/door-tokens", Some(&seller), &json!({"label": "B"})).expect(201).json();

    let digests = |server: &Server| -> Vec<Value> {
        ["gala", "fest", "own"].iter().map(|ns| server.get(&format!("/api/v1/performances/{ns}"), Some(&admin)).expect(200).json()["digest"].clone()).collect()
    };
    let served = digests(&a);

    // Backed up while buyers buy and cancel.
    let buyers: Vec<String> = (0..4).map(|n| a.account(&format!("load{n}@example.com"), "buyer")).collect();
    let first = dir.0.join("first.backup");
    let owner_only = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "a backup holds secrets: its owner's only");
    };
    let stop = AtomicBool::new(false);
    let (acked, began) = std::thread::scope(|scope| {
        let loading = scope.spawn(|| load(&a, &buyers, &stop));
        std::thread::sleep(Duration::from_millis(300));
        let began = Instant::now();
        back_up(&a, &admin, &first);
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        (loading.join().unwrap(), began)
    });
    owner_only(&first);
    let before: Vec<&String> = acked.iter().filter(|(_, at)| *at < began).map(|(id, _)| id).collect();
    assert!(before.len() >= 5 && acked.len() > before.len(), "the backup ran under load: {} orders before it began, {} in all", before.len(), acked.len());

    // Into Redis, served by a control plane and a runtime.
    let redis = LocalRedis::start("e2e-backup", "always").unwrap();
    let url = redis.url();
    let restored = succeeded(&marquee(&["restore", "--from", first.to_str().unwrap(), "--store", &url], &[]));
    assert!(restored.starts_with("restored ") && restored.contains("into the redis store"), "{restored}");
    let env = [("MARQUEE_STORE", url.as_str())];
    let dirs = [DataDir::new(), DataDir::new()];
    let control = Server::start_as(&["control"], &dirs[0].0, &env);
    let runtime = Server::start_as(&["runtime"], &dirs[1].0, &env);
    crate::testkit::soon("the runtime serves the gala", || runtime.get("/p/gala/api/info", None).status == 200);
    let kept = orders_of(&control, &admin, "gala");
    for id in &before {
        assert!(kept.contains_key(*id), "order {id}, acknowledged before the backup began, is restored");
    }
    no_seat_twice(&control, &admin);
    assert_eq!(kept[&partly], (json!("confirmed"), json!(120000)), "the refund of one ticket stands");
    // Tokens signed before the backup verify; passwords log in; the used ticket stays used.
    control.get("/api/v1/orders", Some(&ann)).expect(200);
    control.login("bob@example.com", "a-good-password");
    let again = control.post("/api/v1/performances/gala/checkin", Some(door["token"].as_str().unwrap()), &json!({"ticket": pass})).expect(200).json();
    assert_eq!((&again["status"], &again["door"]), (&json!("already_used"), &json!("B")), "{again}");
    assert_eq!(runtime.get("/p/own/", None).expect(200).text, "fine", "the uploaded component serves");
    assert_eq!(digests(&control), served, "each performance serves at the digest it had");
    assert_eq!(runtime.get("/p/fest/api/sessions/s1/availability", None).expect(200).json()["goods"][0]["available"], 3);
    // The load goes on against the runtime: whatever was sold stays sold.
    let more = control.account("more@example.com", "buyer");
    let mut sold_on = 0;
    for n in 0..2000u32 {
        let held = hold(&runtime, "gala", &more, json!({"session": "s1", "seats": [format!("B-{}-{}", n / 40 + 1, n % 40 + 1)]}));
        if held.status == 201 {
            confirm(&runtime, "gala", &more, held.json()["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201);
            sold_on += 1;
        } else {
            assert_eq!(held.status, 409, "{}", held.text);
        }
    }
    assert!(sold_on > 0, "seats left free are sold on Redis");
    no_seat_twice(&control, &admin);

    // Back from Redis into a data dir, served by `marquee up`.
    let second = dir.0.join("second.backup");
    back_up(&control, &admin, &second);
    let home = DataDir::new();
    let restored = succeeded(&marquee(&["restore", "--from", second.to_str().unwrap(), "--data-dir", home.0.to_str().unwrap()], &[]));
    assert!(restored.contains("into the embedded store"), "{restored}");
    let expected = orders_of(&control, &admin, "gala");
    drop((control, runtime));
    let back = Server::start(&home);
    assert_eq!(orders_of(&back, &admin, "gala"), expected);
    no_seat_twice(&back, &admin);
    back.login("ann@example.com", "a-good-password");
    assert_eq!(back.get("/p/own/", None).expect(200).text, "fine");
    let used_again = back.post("/api/v1/performances/gala/checkin", Some(&seller), &json!({"ticket": pass})).expect(200).json();
    assert_eq!(used_again["status"], "already_used");

    // Refused: cut off, altered, or into a store that holds a platform; nothing changes.
    let bytes = std::fs::read(&second).unwrap();
    let cut = dir.0.join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let empty = DataDir::new();
    let why = refused(&marquee(&["restore", "--from", cut.to_str().unwrap(), "--data-dir", empty.0.to_str().unwrap()], &[]));
    assert!(why.contains("cut off"), "{why}");
    let mut altered = bytes.clone();
    let at = altered.len() / 3;
    altered[at] = if altered[at] == b'1' { b'2' } else { b'1' };
    let changed = dir.0.join("altered.backup");
    std::fs::write(&changed, &altered).unwrap();
    let why = refused(&marquee(&["restore", "--from", changed.to_str().unwrap(), "--data-dir", empty.0.to_str().unwrap()], &[]));
    assert!(why.contains("altered"), "{why}");
    let keys = || redis.cli(&["DBSIZE"]).unwrap();
    let held = keys();
    let why = refused(&marquee(&["restore", "--from", second.to_str().unwrap(), "--store", &url], &[]));
    assert!(why.contains("already holds a platform"), "{why}");
    assert_eq!(keys(), held, "a refused restore writes nothing");
    assert!(!empty.0.exists(), "nor does a refused file");
}

#[test]
fn marquee_up_writes_backups_on_a_schedule_and_keeps_the_newest() {
    let dir = DataDir::new();
    let backups = dir.0.join("backups");
    let env = [("MARQUEE_BACKUP_DIR", backups.to_str().unwrap()), ("MARQUEE_BACKUP_EVERY", "1s"), ("MARQUEE_BACKUP_KEEP", "2")];
    let server = Server::start_with(&dir.0, &env);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    buy_seats(&server, "gala", &ann, &["R-1-1"]);
    let listed = || {
        let mut names: Vec<String> = std::fs::read_dir(&backups)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".backup")).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let seen = Mutex::new(std::collections::BTreeSet::new());
    crate::testkit::within(Duration::from_secs(30), "three backups written", || {
        seen.lock().unwrap().extend(listed());
        seen.lock().unwrap().len() >= 3
    });
    crate::testkit::within(Duration::from_secs(5), "the newest two kept", || listed().len() == 2);
    let metrics = server.get("/metrics", Some(&server.admin())).expect(200).text;
    let size = metrics.lines().find_map(|l| l.strip_prefix("marquee_last_backup_size_bytes ")).expect("the last backup's size");
    assert!(size.parse::<u64>().unwrap() > 0, "{metrics}");

    // The newest restores: a whole backup, with the order in it.
    let newest = backups.join(listed().last().unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&newest).unwrap().permissions().mode() & 0o777, 0o600, "a backup holds secrets: its owner's only");
    let home = DataDir::new();
    let restored = succeeded(&marquee(&["restore", "--from", newest.to_str().unwrap(), "--data-dir", home.0.to_str().unwrap()], &[]));
    assert!(restored.contains(" 1 orders"), "{restored}");

    let why = refused(&marquee(&["up", "--data-dir", home.0.to_str().unwrap(), "--backup-dir", "x", "--backup-every", "soon"], &[]));
    assert!(why.contains("--backup-every"), "{why}");
}
