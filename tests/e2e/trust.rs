//! The promises off the happy path, each played as an attacker or a careless operator would:
//! seller code never sees a credential nor sets a platform header, tokens stay in their
//! namespace, one process per data dir, no confirmed order erased, a ticket admits once,
//! retries and limits hold whatever route a request takes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::isolation::upload;
use crate::testkit::{DataDir, Server, gala_params};

const HOSTILE: &str = env!("MARQUEE_HOSTILE_WASM");
const CARD: &str = "4242424242424242";

/// Deploys the gala with the hostile component as its `role`.
pub(crate) fn hostile_gala(server: &Server, seller: &str, namespace: &str, role: &str) {
    upload(server, seller, "hostile", &std::fs::read(HOSTILE).unwrap());
    let body = json!({"namespace": namespace, "template": "seated", "params": gala_params(), "components": {role: "hostile@1.0.0"}});
    server.post("/api/v1/performances", Some(seller), &body).expect(201);
}

/// Holds seat `seat` of s1 in `ns` and pays: the order.
fn buy(server: &Server, ns: &str, token: &str, seat: &str) -> Value {
    let hold = server.post(&format!("/p/{ns}/api/holds"), Some(token), &json!({"session": "s1", "seats": [seat]})).expect(201).json();
    let id = hold["hold_id"].as_str().unwrap();
    server.post(&format!("/p/{ns}/api/holds/{id}/confirm"), Some(token), &json!({"payment": {"card": CARD}})).expect(201).json()
}

#[test]
fn seller_code_never_sees_a_credential_nor_sets_a_platform_header() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    // A seller's component as the performance's `auth`: the role that once took passwords.
    hostile_gala(&server, &seller, "evil", "auth");
    let buyer = server.account("fan@example.com", "buyer");
    let (page, signature) = buyer.rsplit_once('.').unwrap();

    let echo = server.post_raw(
        "/p/evil/api/auth/me?do=echo",
        Some(&buyer),
        &[("Cookie", &format!("mq_sig={signature}; mq_refresh=mqr_secret; theme=dark"))],
        "{}",
    );
    let seen = echo.expect(200).text.to_ascii_lowercase();
    assert!(!seen.contains("authorization"), "the component saw the Authorization header:\n{seen}");
    for secret in [signature, page, "mqr_secret", "mq_sig", "mq_refresh"] {
        assert!(!seen.contains(&secret.to_ascii_lowercase()), "the component saw {secret}:\n{seen}");
    }
    assert!(seen.contains("cookie: theme=dark"), "its own cookies still reach it:\n{seen}");
    // A Cookie header that cannot be read as a browser meant it (a byte past ASCII, a pair
    // without a name) goes whole, never passed through; a platform cookie in any case goes.
    for cookie in [format!("mq_sig={signature}; junk=caf\u{e9}"), format!("=x; mq_sig={signature}"), format!("MQ_SIG={signature}; theme=dark")] {
        let request = format!(
            "GET /p/evil/api/auth/me?do=echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {page}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        let answer = crate::border::raw(&server, request.as_bytes(), Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(!answer.contains(signature), "the component saw the signature with Cookie: {cookie}\n{answer}");
    }

    // A password sent to the performance never reaches the component.
    let login = server.post("/p/evil/api/auth/login?do=echo", None, &json!({"email": "fan@example.com", "password": "a-good-password"}));
    assert_eq!(login.expect(404).json()["error"], "sign_in_on_platform");

    // What it answers is filtered: no platform cookie, the platform's security headers.
    let set = server.get("/p/evil/api/auth/me?do=headers", None).expect(200);
    let cookies: Vec<&str> = set.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect();
    // Its own cookie, for its own pages, is all that passes.
    assert_eq!(cookies, vec!["theme=dark; Path=/p/evil/"]);
    assert!(set.header("content-security-policy").unwrap().starts_with("sandbox allow-scripts"), "{:?}", set.headers);
    assert_eq!(set.header("access-control-allow-origin"), Some("*"));
    assert_eq!(set.header("access-control-allow-credentials"), None);
    assert_eq!(set.header("x-frame-options"), None);
    assert_eq!(set.header("clear-site-data"), None);
    assert_eq!(set.header("x-content-type-options"), Some("nosniff"));

    // A trap says which function failed, never the guest's own words or symbols.
    let trap = server.get("/p/evil/api/auth/me?do=panic", None).expect(500).json();
    assert_eq!(trap["error"], "function_trap");
    assert_eq!(trap["message"], "function auth failed");
}

#[test]
fn a_namespace_token_works_in_its_namespace_only() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala1", "seated", gala_params());
    server.deploy(&seller, "gala2", "seated", gala_params());
    let buyer = server.account("fan@example.com", "buyer");
    let answer = server.post("/api/v1/auth/namespace-token", Some(&buyer), &json!({"namespace": "gala1"})).expect(200);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let scoped = answer.json()["access_token"].as_str().unwrap().to_string();

    buy(&server, "gala1", &scoped, "R-1-1");
    assert_eq!(server.get("/p/gala1/api/orders", Some(&scoped)).expect(200).json().as_array().unwrap().len(), 1);
    let hold = json!({"session": "s1", "seats": ["R-1-2"]});
    server.post("/p/gala2/api/holds", Some(&scoped), &hold).expect(401);
    server.get("/api/v1/orders", Some(&scoped)).expect(401);
    server.post("/api/v1/auth/namespace-token", Some(&scoped), &json!({"namespace": "gala2"})).expect(401);
    // The platform token itself still works everywhere, and is what the page never sees.
    server.post("/p/gala2/api/holds", Some(&buyer), &hold).expect(201);
    server.post("/api/v1/auth/namespace-token", Some(&buyer), &json!({"namespace": "nope"})).expect(404);
    let deploy_token = server.post("/api/v1/performances/gala1/tokens", Some(&seller), &json!({})).expect(201).json();
    let deploy_token = deploy_token["token"].as_str().unwrap();
    server.post("/api/v1/auth/namespace-token", Some(deploy_token), &json!({"namespace": "gala1"})).expect(403);
}

#[test]
fn a_second_process_on_the_same_data_dir_refuses_to_start() {
    let dir = DataDir::new();
    let first = Server::start(&dir);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .env("MARQUEE_ADMIN_PASSWORD", "admin-secret-1")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another marquee process") && stderr.contains(&first.pid().to_string()), "{stderr}");
    assert!(second.stdout.is_empty(), "the second process announced itself");
    // The lock dies with its holder, even a killed one.
    first.kill();
    let again = Server::start(&dir);
    again.get("/api/v1/catalog", None).expect(200);
}

#[test]
fn a_performance_with_orders_is_cancelled_and_refunded_never_erased() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let rival = server.account("rival@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let (ann, bob) = (server.account("ann@example.com", "buyer"), server.account("bob@example.com", "buyer"));
    let order = buy(&server, "gala", &ann, "R-1-1");
    buy(&server, "gala", &bob, "R-1-2");

    let refused = server.delete("/api/v1/performances/gala", Some(&seller)).expect(409).json();
    assert_eq!((&refused["error"], &refused["orders"]), (&json!("has_orders"), &json!(2)));
    server.get("/p/gala/api/info", None).expect(200);
    // Sales went on after the refused delete.
    buy(&server, "gala", &ann, "R-1-3");
    server.post("/api/v1/performances/gala/cancel", Some(&rival), &json!({})).expect(403);

    let cancelled = server.post("/api/v1/performances/gala/cancel", Some(&seller), &json!({})).expect(200).json();
    assert_eq!(cancelled["refunded_orders"], 3);
    server.get("/p/gala/api/info", None).expect(404);
    let mine = server.get("/api/v1/orders", Some(&ann)).expect(200).json();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2);
    let first = mine.iter().find(|o| o["order_id"] == order["order_id"]).unwrap();
    assert_eq!((&first["status"], &first["refunded"], &first["performance_status"]), (&json!("cancelled"), &order["amount"], &json!("cancelled")));
    assert_eq!(first["title"], "Spring Gala");

    // Across a restart too, and the namespace is free for a new performance.
    let server = { server.stop(); Server::start(&dir) };
    let ann = server.login("ann@example.com", "a-good-password");
    assert_eq!(server.get("/api/v1/orders", Some(&ann)).expect(200).json().as_array().unwrap().len(), 2);
    let seller = server.login("seller@example.com", "a-good-password");
    server.deploy(&seller, "gala", "seated", gala_params());
    // A performance that sold nothing is simply deleted.
    server.delete("/api/v1/performances/gala", Some(&seller)).expect(204);
    assert_eq!(server.get("/api/v1/orders", Some(&ann)).expect(200).json().as_array().unwrap().len(), 2);
}

#[test]
fn a_ticket_admits_once_until_the_seller_undoes_the_scan() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let rival = server.account("rival@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let order = buy(&server, "gala", &ann, "R-2-2");
    let ticket = json!({"order_id": order["order_id"], "seat": "R-2-2", "code": order["tickets"][0]["code"]});
    let scan = |door: &str| {
        let mut body = ticket.clone();
        body["door"] = json!(door);
        server.post("/api/v1/performances/gala/checkin", Some(&seller), &body).expect(200).json()
    };

    // Two doors scan the same ticket at once: exactly one admits it.
    let answers: Vec<Value> = std::thread::scope(|s| {
        let doors: Vec<_> = ["north", "south", "east", "west"].iter().map(|door| s.spawn(move || scan(door))).collect();
        doors.into_iter().map(|d| d.join().unwrap()).collect()
    });
    let admitted: Vec<&Value> = answers.iter().filter(|a| a["valid"] == true).collect();
    assert_eq!(admitted.len(), 1, "{answers:?}");
    let first = admitted[0];
    assert_eq!(first["status"], "checked_in");
    for a in answers.iter().filter(|a| a["valid"] == false) {
        assert_eq!((&a["status"], &a["checked_in_at"], &a["door"]), (&json!("already_used"), &first["checked_in_at"], &first["door"]));
    }

    // The seller's view of orders shows the entry; others may not look.
    let orders = server.get("/api/v1/performances/gala/orders", Some(&seller)).expect(200).json();
    assert_eq!(orders[0]["buyer"]["email"], "ann@example.com");
    assert_eq!(orders[0]["tickets"][0]["checked_in_at"], first["checked_in_at"]);
    server.get("/api/v1/performances/gala/orders", Some(&rival)).expect(403);
    server.get("/api/v1/performances/gala/orders", Some(&ann)).expect(403);
    server.post("/api/v1/performances/gala/checkin/undo", Some(&rival), &json!({"order_id": order["order_id"], "seat": "R-2-2"})).expect(403);

    // A mistaken scan is undone once; then the ticket admits again, and only once.
    let undo = json!({"order_id": order["order_id"], "seat": "R-2-2"});
    server.post("/api/v1/performances/gala/checkin/undo", Some(&seller), &undo).expect(200);
    server.post("/api/v1/performances/gala/checkin/undo", Some(&seller), &undo).expect(409);
    server.post("/api/v1/performances/gala/checkin/undo", Some(&seller), &json!({"order_id": order["order_id"], "seat": "R-9-9"})).expect(404);
    assert_eq!(scan("north")["status"], "checked_in");
    // Entries outlive a restart.
    let server = { server.stop(); Server::start(&dir) };
    let seller = server.login("seller@example.com", "a-good-password");
    let again = server.post("/api/v1/performances/gala/checkin", Some(&seller), &ticket).expect(200).json();
    assert_eq!((&again["valid"], &again["status"], &again["door"]), (&json!(false), &json!("already_used"), &json!("north")));
}

#[test]
fn an_idempotency_key_sent_with_another_request_is_refused() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let hold = |seats: Value| server.post_raw("/p/gala/api/holds", Some(&ann), &[("Idempotency-Key", "k-1")], &json!({"session": "s1", "seats": seats}).to_string());
    let first = hold(json!(["R-1-1"])).expect(201).json();
    assert_eq!(hold(json!(["R-1-1"])).expect(201).json()["hold_id"], first["hold_id"]);
    assert_eq!(hold(json!(["R-1-2"])).expect(422).json()["error"], "idempotency_key_reused");
    // Nothing of the refused request was held.
    let taken = server.get("/p/gala/api/sessions/s1/availability", None).expect(200).json()["taken"].clone();
    assert_eq!(taken, json!(["R-1-1"]));
}

#[test]
fn credential_checks_share_the_limits_whatever_route_they_take() {
    let dir = DataDir::new();
    let server = Server::start_with(
        &dir.0,
        &[("MARQUEE_NO_RATE_LIMITS", "false"), ("MARQUEE_LOGIN_ACCOUNT_RATE", "3"), ("MARQUEE_HOLD_BUYER_RATE", "100"), ("MARQUEE_HELD_SEATS_PER_ADDRESS", "6")],
    );
    let seller = server.account("seller@example.com", "seller");
    let mut params = gala_params();
    params["presale_codes"] = json!(["EARLY-BIRD"]);
    server.deploy(&seller, "pre", "presale", params);
    let fan = server.account("fan@example.com", "buyer");
    // Guessing presale codes counts against the same per-account bucket as log-ins.
    let guess = || server.post("/p/pre/api/auth/admit", Some(&fan), &json!({"code": "GUESS-1"}));
    guess().expect(403);
    // In any spelling the component's router takes.
    server.post("/p/pre//api/auth/admit", Some(&fan), &json!({"code": "GUESS-2"})).expect(403);
    let limited = guess().expect(429);
    assert!(limited.header("retry-after").is_some());
    server.post("/api/v1/auth/login", None, &json!({"email": "fan@example.com", "password": "a-good-password"})).expect(429);

    // Fresh accounts from one address hold only so many unpaid seats between them.
    server.deploy(&seller, "gala", "seated", gala_params());
    let mut held = 0;
    for i in 0..5 {
        let token = server.account(&format!("hoarder{i}@example.com"), "buyer");
        let seats: Vec<String> = (1..=2).map(|n| format!("R-{}-{n}", i + 1)).collect();
        let reply = server.post("/p/gala/api/holds", Some(&token), &json!({"session": "s1", "seats": seats}));
        match reply.status {
            201 => held += 2,
            429 => assert_eq!(reply.json()["error"], "over_limit"),
            other => panic!("{other}: {}", reply.text),
        }
    }
    assert_eq!(held, 6);
}

#[test]
fn control_plane_errors_keep_the_shape_and_answers_carry_security_headers() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let wrong_method = server.delete("/api/v1/catalog", None).expect(405);
    assert!(wrong_method.header("allow").unwrap().contains("GET"));
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(2 << 20));
    assert_eq!(server.post_raw("/api/v1/auth/login", None, &[], &big).expect(413).json()["error"], "body_too_large");
    // A form can post text/plain across sites: a log-in never takes it.
    let form = server.post_raw(
        "/api/v1/auth/login",
        None,
        &[("Content-Type", "text/plain")],
        &json!({"email": "admin@example.com", "password": "admin-secret-1"}).to_string(),
    );
    assert_eq!(form.expect(415).json()["error"], "unsupported_media_type");

    let login = server.post("/api/v1/auth/login", None, &json!({"email": "admin@example.com", "password": "admin-secret-1"})).expect(200);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("x-content-type-options"), Some("nosniff"));
    let console = server.get("/console/", None);
    let csp = console.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");

    // Logging out ends the access token at once, not when it expires.
    let pair = login.json();
    let access = pair["access_token"].as_str().unwrap();
    server.get("/api/v1/performances", Some(access)).expect(200);
    server.post("/api/v1/auth/logout", None, &json!({"refresh_token": pair["refresh_token"]})).expect(204);
    server.get("/api/v1/performances", Some(access)).expect(401);
}

/// Sends one raw HTTP/1.1 request on `stream` and reads its whole answer (Content-Length).
fn exchange(stream: &mut TcpStream, head: &str, body: &[u8], pause: Duration) -> String {
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(pause);
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the connection: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().unwrap()))
                .unwrap_or(0);
            if rest.len() >= length {
                return text.into_owned();
            }
        }
    }
}

#[test]
fn a_refused_request_keeps_its_connection_and_idle_ones_are_closed() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_HEADER_TIMEOUT_MS", "1000"), ("MARQUEE_CONNECTIONS_PER_ADDRESS", "8")]);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Answered before the body arrives (no token; an unknown performance), each refusal
    // still leaves the connection usable for the next request.
    let body = br#"{"session":"s1","seats":["R-1-1"]}"#;
    for path in ["/api/v1/admin/token-keys/rotate", "/p/nope/api/holds", "/p/gala/api/holds"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let answer = exchange(&mut stream, &head, body, Duration::from_millis(200));
        assert!(answer.starts_with("HTTP/1.1 40"), "{answer}");
    }
    let answer = exchange(&mut stream, &format!("GET /api/v1/catalog HTTP/1.1\r\nHost: {addr}\r\n\r\n"), b"", Duration::ZERO);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A client that stops mid-headers, or goes quiet, is closed after the header timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slow.write_all(b"GET /api/v1/catalog HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    std::thread::sleep(Duration::from_millis(1500));
    let closed = stream.read(&mut [0u8; 16]).unwrap_or(0);
    assert_eq!(closed, 0, "an idle kept-alive connection stayed open");

    // One address may hold only so many connections at once.
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = extra.write_all(format!("GET /api/v1/catalog HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes());
    assert_eq!(extra.read(&mut [0u8; 16]).unwrap_or(0), 0, "a connection past the cap was served");
    drop(held);
}

#[test]
fn a_response_cut_off_by_the_wall_clock_ends_in_an_error() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_REQUEST_TIMEOUT_MS", "500")]);
    let seller = server.account("seller@example.com", "seller");
    hostile_gala(&server, &seller, "drip", "listing");
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(format!("GET /p/drip/api/info?do=drip HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("transfer-encoding: chunked"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "the cut-off body ended like a whole one:\n{text}");
}

#[test]
fn a_generated_admin_password_works_once_and_every_account_can_change_its_password() {
    use std::io::BufRead;
    let dir = DataDir::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .env_remove("MARQUEE_ADMIN_PASSWORD")
        .env("MARQUEE_ADMIN_EMAIL", "root@example.com")
        .env("MARQUEE_NO_RATE_LIMITS", "true")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let line = stderr.lines().map_while(Result::ok).find(|l| l.contains("one-time password")).expect("no one-time password printed");
    let password = line.split("one-time password ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let _ = child.kill();
    let _ = child.wait();

    let server = Server::start(&dir);
    let creds = json!({"email": "root@example.com", "password": password});
    assert_eq!(server.post("/api/v1/auth/login", None, &creds).expect(403).json()["error"], "password_change_required");
    let change = |password: &str, new_password: &str| {
        server.post("/api/v1/auth/password", None, &json!({"email": "root@example.com", "password": password, "new_password": new_password}))
    };
    assert_eq!(change(&password, "short").expect(400).json()["field"], "new_password");
    change("not-the-password", "a-new-good-password").expect(401);
    let session = change(&password, "a-new-good-password").expect(200).json();
    server.get("/api/v1/performances", Some(session["access_token"].as_str().unwrap())).expect(200);
    server.post("/api/v1/auth/login", None, &creds).expect(401);

    // A seller changes theirs: every older session ends, its access token at once.
    let old = server.account("seller@example.com", "seller");
    server.post(
        "/api/v1/auth/password",
        None,
        &json!({"email": "seller@example.com", "password": "a-good-password", "new_password": "another-good-password"}),
    )
    .expect(200);
    server.get("/api/v1/performances", Some(&old)).expect(401);
    server.login("seller@example.com", "another-good-password");
}

#[test]
fn the_catalog_comes_in_pages_and_a_refused_head_keeps_the_error_shape() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    for ns in ["one", "two", "three"] {
        server.deploy(&seller, ns, "seated", gala_params());
    }
    let first = server.get("/api/v1/catalog?limit=2", None).expect(200);
    let names = |reply: &crate::testkit::Reply| reply.json().as_array().unwrap().iter().map(|p| p["namespace"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&first).len(), 2);
    assert_eq!(first.header("link"), Some("</api/v1/catalog?limit=2&offset=2>; rel=\"next\""));
    let last = server.get("/api/v1/catalog?limit=2&offset=2", None).expect(200);
    assert_eq!(names(&last).len(), 1);
    assert_eq!(last.header("link"), None);
    let mut all = names(&first);
    all.extend(names(&last));
    all.sort();
    assert_eq!(all, ["one", "three", "two"]);
    server.get("/api/v1/catalog?limit=0", None).expect(400);
    server.get("/api/v1/catalog?limit=lots", None).expect(400);

    // Past the platform's head limit: 431 in the error shape, on both planes.
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    for path in ["/api/v1/catalog", "/p/one/api/info"] {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\n\r\n", "a".repeat(70 << 10));
        let answer = exchange(&mut stream, &head, b"", Duration::ZERO);
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        assert!(answer.contains("\"error\":\"headers_too_large\""), "{answer}");
    }
    // A control byte in a header is refused by the HTTP parser before any service runs: still
    // the error shape, also as the second request of a kept-alive connection.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let fine = exchange(&mut stream, &format!("GET /api/v1/catalog HTTP/1.1\r\nHost: {addr}\r\n\r\n"), b"", Duration::ZERO);
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
    let answer = exchange(&mut stream, &format!("GET /p/one/api/info HTTP/1.1\r\nHost: {addr}\r\nX-Odd: a\u{1}b\r\n\r\n"), b"", Duration::ZERO);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("content-type: application/json"), "{answer}");
    assert!(answer.contains("\"error\":\"bad_request\""), "{answer}");
}

#[test]
fn disguising_text_past_sessions_and_deploy_floods_are_refused() {
    let dir = DataDir::new();
    let server = Server::start_with(
        &dir.0,
        &[("MARQUEE_NO_RATE_LIMITS", "false"), ("MARQUEE_DEPLOY_RATE", "7"), ("MARQUEE_PERFORMANCES_PER_SELLER", "2")],
    );
    let seller = server.account("seller@example.com", "seller");
    let deploy = |ns: &str, params: Value| server.post("/api/v1/performances", Some(&seller), &json!({"namespace": ns, "template": "seated", "params": params}));
    for title in ["Gala\u{0}", "Gala\u{1b}[31m", "Gala \u{202e}alaG"] {
        let mut params = gala_params();
        params["title"] = json!(title);
        assert_eq!(deploy("x", params).expect(400).json()["field"], "params.title", "{title:?}");
    }
    let mut past = gala_params();
    past["sessions"][0]["starts_at"] = json!("1970-01-01T00:00:00Z");
    assert_eq!(deploy("x", past).expect(400).json()["field"], "params.sessions[0].starts_at");

    // A seller has a live-performance quota and a deploy rate; the refusals above counted.
    server.deploy(&seller, "one", "seated", gala_params());
    server.deploy(&seller, "two", "seated", gala_params());
    assert_eq!(deploy("three", gala_params()).expect(403).json()["error"], "quota_exceeded");
    server.delete("/api/v1/performances/two", Some(&seller)).expect(204);
    let flood = deploy("three", gala_params()).expect(429);
    assert!(flood.header("retry-after").is_some());
    // An admin is not held to a seller's quota.
    server.deploy(&server.admin(), "house", "seated", gala_params());
}

#[test]
fn a_cookie_session_is_renewed_or_ended_only_from_the_platform_s_own_pages() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    server.account("fan@example.com", "buyer");
    let login = server.post("/api/v1/auth/login", None, &json!({"email": "fan@example.com", "password": "a-good-password", "mode": "browser"}));
    let cookie: String = login
        .expect(200)
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let origin = server.base.clone();
    for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
        for bad in ["http://evil.example", "null"] {
            server.post_raw(path, None, &[("Cookie", &cookie), ("Origin", bad)], "").expect(403);
        }
        server.post_raw(path, None, &[("Cookie", &cookie)], "").expect(403);
    }
    server.post_raw("/api/v1/auth/refresh", None, &[("Cookie", &cookie), ("Origin", &origin)], "").expect(200);
}

/// Behind https (the public URL says so), the session cookies are `Secure`: they never travel
/// in clear. On plain HTTP (`marquee up` on loopback) a browser would drop them, so they are not.
#[test]
fn session_cookies_are_secure_behind_https() {
    let set_cookies = |reply: &crate::testkit::Reply| -> Vec<String> {
        reply.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.clone()).collect()
    };
    for (public_url, secure) in [(Some("https://tickets.example"), true), (Some("http://tickets.example"), false), (None, false)] {
        let dir = DataDir::new();
        let env: Vec<(&str, &str)> = public_url.map(|url| ("MARQUEE_PUBLIC_URL", url)).into_iter().collect();
        let server = Server::start_with(&dir.0, &env);
        server.account("fan@example.com", "buyer");
        let login = server.post("/api/v1/auth/login", None, &json!({"email": "fan@example.com", "password": "a-good-password", "mode": "browser"}));
        let cookies = set_cookies(&login.expect(200));
        assert_eq!(cookies.len(), 2);
        let pairs: Vec<&str> = cookies.iter().map(|c| c.split(';').next().unwrap()).collect();
        let logout = server.post_raw("/api/v1/auth/logout", None, &[("Cookie", &pairs.join("; ")), ("Origin", &server.base)], "");
        let cleared = set_cookies(&logout.expect(204));
        assert_eq!(cleared.len(), 2, "{public_url:?}");
        for cookie in cookies.iter().chain(&cleared) {
            assert_eq!(cookie.split("; ").any(|a| a == "Secure"), secure, "{public_url:?}: {cookie}");
        }
    }
}
