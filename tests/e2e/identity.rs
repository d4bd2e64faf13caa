//! Identity and tenancy: namespace tokens, patching, key rotation.

use serde_json::json;

use crate::testkit::{DataDir, Server, gala_params};

#[test]
fn a_namespace_token_reaches_its_performance_and_nothing_else() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let alice = server.account("alice@example.com", "seller");
    let bob = server.account("bob@example.com", "seller");
    server.deploy(&alice, "mine", "seated", gala_params());
    server.deploy(&alice, "also-mine", "seated", gala_params());
    server.deploy(&bob, "bobs", "seated", gala_params());

    server.post("/api/v1/performances/mine/tokens", Some(&bob), &json!({})).expect(403);
    let issued = server.post("/api/v1/performances/mine/tokens", Some(&alice), &json!({})).expect(201).json();
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("mqd_"));

    // Its own performance: read and patch.
    assert_eq!(server.get("/api/v1/performances/mine", Some(token)).expect(200).json()["namespace"], "mine");
    let reply = patch(&server, "mine", token, json!({"params": {"title": "Renamed by CI"}})).expect(200);
    assert_eq!(reply.json()["params"]["title"], "Renamed by CI");
    assert_eq!(server.get("/p/mine/api/info", None).expect(200).json()["title"], "Renamed by CI");

    // Nothing else: other performances, even the same owner's, the control plane, deletion.
    server.get("/api/v1/performances/also-mine", Some(token)).expect(403);
    server.get("/api/v1/performances/bobs", Some(token)).expect(403);
    patch(&server, "bobs", token, json!({"params": {"title": "x"}})).expect(403);
    server.delete("/api/v1/performances/mine", Some(token)).expect(403);
    server.get("/api/v1/performances", Some(token)).expect(403);
    server.post("/api/v1/performances", Some(token), &json!({"namespace": "new", "template": "seated", "params": gala_params()})).expect(403);
    server.post("/api/v1/performances/mine/tokens", Some(token), &json!({})).expect(403);
    server.post("/api/v1/admin/token-keys/rotate", Some(token), &json!({})).expect(403);
    server.get("/api/v1/performances/mine", Some("mqd_forged_secret")).expect(401);

    // Revoked, it is dead.
    let id = issued["id"].as_str().unwrap();
    server.delete(&format!("/api/v1/performances/mine/tokens/{id}"), Some(&alice)).expect(204);
    server.get("/api/v1/performances/mine", Some(token)).expect(401);
    server.delete(&format!("/api/v1/performances/mine/tokens/{id}"), Some(&alice)).expect(404);

    // A token does not outlive its performance into a new one of the same name.
    let issued = server.post("/api/v1/performances/mine/tokens", Some(&alice), &json!({})).expect(201).json();
    server.delete("/api/v1/performances/mine", Some(&alice)).expect(204);
    server.deploy(&bob, "mine", "seated", gala_params());
    server.get("/api/v1/performances/mine", Some(issued["token"].as_str().unwrap())).expect(403);
}

fn patch(server: &Server, ns: &str, token: &str, body: serde_json::Value) -> crate::testkit::Reply {
    server.patch(&format!("/api/v1/performances/{ns}"), Some(token), &body)
}

#[test]
fn patching_changes_display_parameters_only() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let alice = server.account("alice@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");
    server.deploy(&alice, "gala", "seated", gala_params());
    let field = |reply: crate::testkit::Reply| reply.expect(400).json()["field"].as_str().unwrap().to_string();
    assert_eq!(field(patch(&server, "gala", &alice, json!({"params": {"sections": []}}))), "params.sections");
    assert_eq!(field(patch(&server, "gala", &alice, json!({"params": {"title": ""}}))), "params.title");
    assert_eq!(field(patch(&server, "gala", &alice, json!({"title": "x"}))), "title");
    patch(&server, "gala", &ann, json!({"params": {"title": "x"}})).expect(403);
    patch(&server, "nope", &alice, json!({"params": {"title": "x"}})).expect(404);
    server.post("/p/gala/api/holds", Some(&ann), &json!({"session": "s1", "seats": ["R-1-1"]})).expect(201);
    patch(&server, "gala", &alice, json!({"params": {"venue": "Hall B", "per_buyer_limit": 1}})).expect(200);
    // Same inventory: the hold made before the patch still holds its seat.
    assert_eq!(server.get("/p/gala/api/sessions/s1/availability", None).expect(200).json()["taken"], json!(["R-1-1"]));
    assert_eq!(server.post("/p/gala/api/holds", Some(&ann), &json!({"session": "s1", "seats": ["R-1-2"]})).status, 429);
    // And it survives a restart.
    assert!(server.stop().success());
    let server = Server::start(&dir);
    assert_eq!(server.get("/p/gala/api/info", None).expect(200).json()["venue"], "Hall B");
}

#[test]
fn rotating_the_signing_key_logs_no_one_out() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let alice = server.account("alice@example.com", "seller");
    server.post("/api/v1/admin/token-keys/rotate", Some(&alice), &json!({})).expect(403);
    let admin = server.admin();
    let kid = server.post("/api/v1/admin/token-keys/rotate", Some(&admin), &json!({})).expect(200).json()["kid"].clone();
    assert!(kid.is_string());
    server.get("/api/v1/performances", Some(&alice)).expect(200);
    let fresh = server.login("alice@example.com", "a-good-password");
    server.get("/api/v1/performances", Some(&fresh)).expect(200);
    assert_ne!(fresh.split('.').next(), alice.split('.').next(), "new tokens name the new key");
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let dir = DataDir::new();
    let server = Server::start_with(
        &dir.0,
        &[
            ("MARQUEE_NO_RATE_LIMITS", "false"),
            ("MARQUEE_SIGNUP_RATE", "4"),
            ("MARQUEE_LOGIN_RATE", "100"),
            ("MARQUEE_LOGIN_ACCOUNT_RATE", "3"),
            ("MARQUEE_HOLD_RATE", "1000"),
            ("MARQUEE_HOLD_BUYER_RATE", "2"),
        ],
    );
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let signup = |email: &str| {
        server.post("/api/v1/auth/signup", None, &json!({"email": email, "password": "a-good-password", "role": "buyer"}))
    };
    signup("b@example.com").expect(201);
    signup("c@example.com").expect(201);
    let limited = signup("d@example.com").expect(429);
    assert!(limited.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(limited.json()["error"], "rate_limited");

    // Log-ins per account count failures too: guessing a password is slow.
    let login = |password: &str| server.post("/api/v1/auth/login", None, &json!({"email": "b@example.com", "password": password}));
    login("wrong-one-1").expect(401);
    login("wrong-one-2").expect(401);
    login("a-good-password").expect(200);
    login("a-good-password").expect(429);
    // Another account is not slowed down by it.
    server.login("seller@example.com", "a-good-password");

    let hold = |seat: &str| server.post("/p/gala/api/holds", Some(&ann), &json!({"session": "s1", "seats": [seat]}));
    hold("R-1-1").expect(201);
    hold("R-1-2").expect(201);
    let limited = hold("R-1-3").expect(429);
    assert!(limited.header("retry-after").is_some());
    // Only the two holds exist.
    assert_eq!(server.get("/p/gala/api/sessions/s1/availability", None).expect(200).json()["taken"], json!(["R-1-1", "R-1-2"]));
}

#[test]
fn a_performance_never_takes_a_password_and_its_auth_component_knows_its_caller() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    // Passwords and refresh tokens go to the platform only: the host answers these paths
    // itself, whatever component a performance runs.
    let creds = json!({"email": "fan@example.com", "password": "a-good-password"});
    for path in ["signup", "login", "refresh", "logout"] {
        let refused = server.post(&format!("/p/gala/api/auth/{path}"), None, &creds).expect(404).json();
        assert_eq!(refused["error"], "sign_in_on_platform", "{path}");
    }
    let token = server.account("fan@example.com", "buyer");
    assert_eq!(server.get("/p/gala/api/auth/me", Some(&token)).expect(200).json()["email"], "fan@example.com");
    server.get("/p/gala/api/auth/me", None).expect(401);
    server.get("/p/gala/api/auth/me", Some("not-a-token")).expect(401);
}

#[test]
fn a_presale_admits_only_buyers_with_a_code_of_its_own() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let mut params = gala_params();
    params["presale_codes"] = json!(["EARLY-BIRD", "FRIENDS_2027"]);
    server.deploy(&seller, "pre", "presale", params.clone());
    server.deploy(&seller, "other-pre", "presale", params.clone());
    // Codes belong to presales only, and a presale needs them.
    let mut bad = gala_params();
    bad["presale_codes"] = json!(["EARLY-BIRD"]);
    assert_eq!(server.post("/api/v1/performances", Some(&seller), &json!({"namespace": "x", "template": "seated", "params": bad})).expect(400).json()["field"], "params.presale_codes");
    assert_eq!(server.post("/api/v1/performances", Some(&seller), &json!({"namespace": "x", "template": "presale", "params": gala_params()})).expect(400).json()["field"], "params.presale_codes");

    // Signed in on the platform, a buyer is not admitted until they give a code.
    let token = server.account("fan@example.com", "buyer");
    let admitted = token.as_str();
    let hold = json!({"session": "s1", "seats": ["R-1-1"]});
    assert_eq!(server.post("/p/pre/api/holds", Some(&token), &hold).expect(403).json()["error"], "presale_code_required");
    assert_eq!(server.get("/p/pre/api/auth/me", Some(&token)).expect(200).json()["admitted"], false);
    let guessed = server.post("/p/pre/api/auth/admit", Some(&token), &json!({"code": "GUESSED"})).expect(403).json();
    assert_eq!(guessed["error"], "presale_code_invalid");
    server.post("/p/pre/api/auth/admit", None, &json!({"code": "EARLY-BIRD"})).expect(401);

    server.post("/p/pre/api/auth/admit", Some(&token), &json!({"code": "EARLY-BIRD"})).expect(200);
    assert_eq!(server.get("/p/pre/api/auth/me", Some(admitted)).expect(200).json()["admitted"], true);
    server.post("/p/pre/api/holds", Some(admitted), &hold).expect(201);
    // Admission is per namespace: the other presale still wants a code, then takes it.
    server.post("/p/other-pre/api/holds", Some(admitted), &hold).expect(403);
    server.post("/p/other-pre/api/auth/admit", Some(admitted), &json!({"code": "nope"})).expect(403);
    server.post("/p/other-pre/api/auth/admit", Some(admitted), &json!({"code": "FRIENDS_2027"})).expect(200);
    server.post("/p/other-pre/api/holds", Some(admitted), &hold).expect(201);
}

#[test]
fn each_installation_has_its_own_keys() {
    let (dir_a, dir_b) = (DataDir::new(), DataDir::new());
    let (a, b) = (Server::start(&dir_a), Server::start(&dir_b));
    let token = a.account("seller@example.com", "seller");
    b.account("seller@example.com", "seller");
    a.get("/api/v1/performances", Some(&token)).expect(200);
    b.get("/api/v1/performances", Some(&token)).expect(401);
    let key = |dir: &DataDir| std::fs::read(dir.0.join("secrets/token-keys.json")).unwrap();
    assert_ne!(key(&dir_a), key(&dir_b));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir_a.0.join("secrets/token-keys.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "keys are readable by their owner only");
}
