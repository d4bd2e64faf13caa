//! `marquee up --store redis://…`: claims, orders, kv and rate limits in a real redis-server
//! of the test's own (AOF on, `appendfsync always`), through crashes of either process.

use std::time::Duration;

use marquee_store_redis::LocalRedis;
use serde_json::json;

use crate::booking::{GOOD_CARD, Sale, availability, buyers, confirm, seated_crowd, seated_house, seats_of, standing_crowd, standing_house, survived};
use crate::testkit::{DataDir, Server, soon};

fn on_redis(dir: &DataDir, redis: &LocalRedis) -> Server {
    Server::start_with(&dir.0, &[("MARQUEE_STORE", &redis.url()), ("MARQUEE_HISTORY_INTERVAL_MS", "200")])
}


#[test]
fn on_redis_a_flash_crowd_never_oversells_and_the_seller_sees_every_order() {
    let redis = LocalRedis::start("e2e-crowd", "always").unwrap();
    let dir = DataDir::new();
    let server = on_redis(&dir, &redis);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "crowd", "seated", seated_house());
    server.deploy(&seller, "field", "standing", standing_house());
    let buyers = buyers(&server, 16);
    let orders = seated_crowd(&[&server], "crowd", &buyers);
    // The seller's list comes from the same store: every order, with its buyer.
    let listed = crate::testkit::all_orders(&server, &seller, "crowd");
    assert_eq!(listed.len(), orders.len());
    assert!(listed[0]["buyer"]["email"].as_str().unwrap().ends_with("@example.com"));

    let units = standing_crowd(&[&server], "field", &buyers);
    // Sales per section, as the console's history samples them from the store.
    std::thread::sleep(Duration::from_millis(500));
    let series = server.get("/api/v1/performances/field/metrics?range=1m&step=1s", Some(&seller)).expect(200).json();
    let last = series["sales"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["sections"][0], json!({"name": "GA", "sold": units, "held": 0, "free": 500 - units}));
}

#[test]
fn on_redis_kill_9_of_marquee_or_of_redis_server_loses_no_confirmed_order() {
    let mut redis = LocalRedis::start("e2e-crash", "always").unwrap();
    let dir = DataDir::new();
    let server = on_redis(&dir, &redis);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "crash", "seated", Sale::house());
    // Enough buyers that per-buyer limits (unpaid holds included) do not stop the sale first.
    let buyers = buyers(&server, 16);

    // Redis dies and comes back on its AOF mid-sale (calls in between fail as 5xx and the
    // clients go on), then marquee itself dies.
    let sale = Sale::start(&server.base, "crash", &buyers, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let before_redis_crash = sale.confirmed.lock().unwrap().len();
    redis.crash_and_restart().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let before_kill = sale.confirmed.lock().unwrap().len();
    server.kill();
    let (confirmed, live_holds) = sale.join();
    assert!(before_redis_crash > 20, "the load should have confirmed orders before Redis died, got {before_redis_crash}");
    assert!(before_kill > before_redis_crash, "sales went on once Redis was back ({before_redis_crash} then {before_kill})");

    let server = on_redis(&dir, &redis);
    let sold = survived(&server, "crash", &buyers, &confirmed);
    // Holds are in Redis too: one made before the crash is still there to pay for.
    let taken = seats_of(&availability(&server, "crash")["taken"]);
    assert!(taken.is_superset(&sold));
    let (owner, id) = live_holds.last().expect("a fifth of the holds are left unpaid");
    let order = confirm(&server, "crash", &buyers[*owner], id, GOOD_CARD).expect(201).json();
    let seat = order["tickets"][0]["seat"].as_str().unwrap();
    assert!(!sold.contains(seat), "the held seat {seat} was not sold to anyone else");

    // Cancelling refunds every order; the buyers still see theirs, as cancelled.
    let cancelled = server.post("/api/v1/performances/crash/cancel", Some(&seller), &json!({})).expect(200).json();
    assert_eq!(cancelled["refunded_orders"].as_u64().unwrap() as usize, sold.len() + 1);
    let mine = server.get("/api/v1/orders", Some(&buyers[*owner])).expect(200).json();
    let mine = mine.as_array().unwrap();
    assert!(mine.iter().any(|o| o["order_id"] == order["order_id"]));
    assert!(mine.iter().all(|o| o["status"] == "cancelled" && o["performance_status"] == "cancelled"), "{mine:?}");
}

#[test]
fn marquee_refuses_a_redis_that_could_lose_confirmed_orders() {
    let redis = LocalRedis::start("e2e-lossy", "everysec").unwrap();
    let dir = DataDir::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .args(["--store", &redis.url()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("appendfsync everysec") && stderr.contains("--store-durability relaxed"), "{stderr}");
}

#[test]
fn marquee_refuses_a_redis_anyone_may_use_unless_only_this_machine_reaches_it_or_it_is_told_otherwise() {
    let redis = LocalRedis::start_with("e2e-open", "always", marquee_store_redis::Access::Open).unwrap();
    let dir = DataDir::new();
    // By the machine's address on its network, which other machines could use too: refused.
    // (A machine with no address but loopback cannot play this half; the address rule itself
    // is unit-tested in crates/store-redis.)
    match redis.network_url() {
        Some(network) => {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
                .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(&dir.0)
                .args(["--store", &network])
                .output()
                .unwrap();
            assert!(!output.status.success());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("gives no password") && stderr.contains("--store-auth optional"), "{stderr}");
            let server = Server::start_with(&dir.0, &[("MARQUEE_STORE", &network), ("MARQUEE_STORE_AUTH", "optional")]);
            server.get("/healthz", None).expect(200);
        }
        None => eprintln!("this machine has no address but loopback: the refusal by network address is not played here"),
    }
    // Only this machine reaches a Unix socket (or loopback): used, with a warning.
    let server = Server::start_with(&dir.0, &[("MARQUEE_STORE", &redis.url())]);
    server.get("/healthz", None).expect(200);
}

/// `rediss://` (a managed Redis's TLS) with an ACL user and password: the server's certificate is
/// checked against the CA `--store-ca` names (here one made for the test), or the system's roots.
#[test]
fn marquee_sells_on_a_redis_over_tls() {
    let redis = LocalRedis::start_with("e2e-tls", "always", marquee_store_redis::Access::Tls).unwrap();
    let url = redis.tls_url().unwrap();
    let dir = DataDir::new();
    let ca = redis.ca_file();
    let server = Server::start_with(&dir.0, &[("MARQUEE_STORE", &url), ("MARQUEE_STORE_CA", ca.to_str().unwrap())]);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", crate::testkit::gala_params());
    let buyer = server.account("buyer@example.com", "buyer");
    let held = crate::booking::hold(&server, "gala", &buyer, json!({"session": "s1", "seats": ["R-1-1"]})).expect(201).json();
    let order = confirm(&server, "gala", &buyer, held["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json();
    assert_eq!(order["status"], "confirmed");

    // The system's roots do not know that CA: marquee says so rather than serving.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&DataDir::new().0)
        .args(["--store", &url])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failed to connect to Redis") && !stderr.contains(&url), "{stderr}");
}

#[test]
fn a_control_plane_and_a_runtime_on_one_redis_share_accounts_sessions_keys_and_rate_limits() {
    let redis = LocalRedis::start("e2e-identity", "always").unwrap();
    let (dir_a, dir_b) = (DataDir::new(), DataDir::new());
    let limits = [("MARQUEE_STORE", redis.url()), ("MARQUEE_NO_RATE_LIMITS", "false".into()), ("MARQUEE_LOGIN_ACCOUNT_RATE", "5".into())];
    let env: Vec<(&str, &str)> = limits.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start_with(&dir_a.0, &env);
    let b = Server::start_as(&["runtime"], &dir_b.0, &env);
    let seller = a.account("seller@example.com", "seller");
    let mut params = crate::testkit::gala_params();
    params["presale_codes"] = json!(["EARLY-BIRD"]);
    a.deploy(&seller, "gala", "presale", params);
    soon("B serves the gala", || b.get("/p/gala/api/info", None).status == 200);
    let orders = |token: &str| b.get("/p/gala/api/orders", Some(token)).status;

    // An account made on A acts on B; A's tokens verify on B.
    let ann = a.account("ann@example.com", "buyer");
    assert_eq!(orders(&ann), 200);
    let pair = a.post("/api/v1/auth/login", None, &json!({"email": "ann@example.com", "password": "a-good-password"})).expect(200).json();

    // A refresh token spent twice revokes its family, and B refuses its access tokens.
    let next = a.post("/api/v1/auth/refresh", None, &json!({"refresh_token": pair["refresh_token"]})).expect(200).json();
    let access = next["access_token"].as_str().unwrap().to_string();
    assert_eq!(orders(&access), 200);
    a.post("/api/v1/auth/refresh", None, &json!({"refresh_token": pair["refresh_token"]})).expect(401);
    a.post("/api/v1/auth/refresh", None, &json!({"refresh_token": next["refresh_token"]})).expect(401);
    soon("the revoked session's access token is refused on B", || orders(&access) == 401);
    // A logout on A ends that session's access tokens on B.
    let session = a.post("/api/v1/auth/login", None, &json!({"email": "ann@example.com", "password": "a-good-password"})).expect(200).json();
    let token = session["access_token"].as_str().unwrap().to_string();
    assert_eq!(orders(&token), 200);
    a.post("/api/v1/auth/logout", None, &json!({"refresh_token": session["refresh_token"]})).expect(204);
    soon("a logout on A reaches B", || orders(&token) == 401);

    // A key rotated on A signs tokens that B verifies; the old ones keep working.
    let admin = a.admin();
    a.post("/api/v1/admin/token-keys/rotate", Some(&admin), &json!({})).expect(200);
    let fresh = a.login("ann@example.com", "a-good-password");
    assert_ne!(fresh.split('.').next(), ann.split('.').next(), "new tokens name the new key");
    soon("B verifies a token signed with A's new key", || orders(&fresh) == 200);
    assert_eq!(orders(&ann), 200);

    // One guessing budget per account and address, whichever process is asked: 5 a minute
    // for bo, one spent on the log-in that made the account, four on codes guessed on B.
    let bo = a.account("bo@example.com", "buyer");
    let guess = || b.post("/p/gala/api/auth/admit", Some(&bo), &json!({"code": "GUESS"})).status;
    assert_eq!([guess(), guess(), guess(), guess(), guess()], [403, 403, 403, 403, 429]);
    a.post("/api/v1/auth/login", None, &json!({"email": "bo@example.com", "password": "a-good-password"})).expect(429);
}
