//! The platform spine: deploy, serve through the component, restart, and every bad input
//! answered with its 4xx.

use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, gala_params};

#[test]
fn deploy_then_info_availability_and_storefront_come_from_the_component() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let deployed = server.deploy(&seller, "spring-gala", "seated", gala_params());
    assert_eq!(deployed["namespace"], "spring-gala");
    assert_eq!(deployed["status"], "ready");
    assert_eq!(deployed["url"], "/p/spring-gala/");
    assert!(deployed["deploy_ms"].as_f64().unwrap() > 0.0);

    let info = server.get("/p/spring-gala/api/info", None).expect(200).json();
    assert_eq!(info["title"], "Spring Gala");
    assert_eq!(info["venue"], "Hall A");
    assert_eq!(info["sessions"], json!([{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}]));
    let sections: Vec<(String, u64, u64)> = info["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["price"].as_u64().unwrap(), s["capacity"].as_u64().unwrap()))
        .collect();
    assert_eq!(sections, vec![("R".into(), 120000, 200), ("S".into(), 80000, 300)]);

    let availability = server.get("/p/spring-gala/api/sessions/s1/availability", None).expect(200).json();
    assert_eq!(
        availability,
        json!({"sections": [{"name": "R", "capacity": 200, "available": 200},
                            {"name": "S", "capacity": 300, "available": 300}], "taken": []})
    );
    server.get("/p/spring-gala/api/sessions/nope/availability", None).expect(404);
    server.get("/p/spring-gala/api/nothing-here", None).expect(404);
    server.get("/p/no-such-show/api/info", None).expect(404);

    let page = server.get("/p/spring-gala/", None).expect(200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text.contains("<h1>Spring Gala</h1>"));

    let catalog = server.get("/api/v1/catalog", None).expect(200).json();
    assert_eq!(catalog.as_array().unwrap().len(), 1);
    assert_eq!(catalog[0]["namespace"], "spring-gala");
    let mine = server.get("/api/v1/performances", Some(&seller)).expect(200).json();
    assert_eq!(mine[0]["namespace"], "spring-gala");
    assert_eq!(server.get("/api/v1/performances/spring-gala", Some(&seller)).expect(200).json()["template"], "seated");
}

#[test]
fn storefront_escapes_what_the_seller_typed() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let mut params = gala_params();
    params["title"] = json!("<script>alert(1)</script> & \"friends\"");
    server.deploy(&seller, "xss", "seated", params);
    let page = server.get("/p/xss/", None).expect(200).text;
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;"));
}

#[test]
fn every_bad_deploy_is_a_4xx_and_leaves_nothing_behind() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let buyer = server.account("buyer@example.com", "buyer");
    let deploy = |ns: &str, template: &str, params: Value| {
        server.post("/api/v1/performances", Some(&seller), &json!({"namespace": ns, "template": template, "params": params}))
    };
    let with = |mutate: &dyn Fn(&mut Value)| {
        let mut p = gala_params();
        mutate(&mut p);
        p
    };

    let field = |reply: crate::testkit::Reply, status: u16| reply.expect(status).json()["field"].as_str().unwrap_or("").to_string();
    assert_eq!(field(deploy("a", "no-such-template", gala_params()), 400), "template");
    for bad in ["Upper", "-lead", "trail-", "sp ace", "", "a_b", &"x".repeat(64)] {
        assert_eq!(field(deploy(bad, "seated", gala_params()), 400), "namespace", "{bad:?}");
    }
    assert_eq!(
        field(deploy("a", "seated", with(&|p| p["sections"][0]["price"] = json!(-5))), 400),
        "params.sections[0].price"
    );
    assert_eq!(
        field(deploy("a", "seated", with(&|p| p["sections"][1]["rows"] = json!(2))), 400),
        "params.sections[1].seats_per_row"
    );
    assert_eq!(
        field(deploy("a", "seated", with(&|p| p["sections"][0]["capacity"] = json!(5))), 400),
        "params.sections[0].capacity"
    );
    assert_eq!(
        field(deploy("a", "seated", with(&|p| p["sections"][0] = json!({"name": "R", "price": 1}))), 400),
        "params.sections[0].capacity"
    );
    assert_eq!(field(deploy("a", "seated", with(&|p| p["sessions"] = json!([]))), 400), "params.sessions");
    assert_eq!(field(deploy("a", "seated", Value::Null), 400), "params");

    // Malformed JSON, no token, a wrong role.
    server.post_raw("/api/v1/performances", Some(&seller), &[], "{not json").expect(400);
    server.post("/api/v1/performances", None, &json!({"namespace": "a", "template": "seated", "params": gala_params()})).expect(401);
    server.post("/api/v1/performances", Some("garbage"), &json!({})).expect(401);
    server
        .post("/api/v1/performances", Some(&buyer), &json!({"namespace": "a", "template": "seated", "params": gala_params()}))
        .expect(403);

    // Nothing of the failed deploys exists, and the name is still free.
    assert_eq!(server.get("/api/v1/catalog", None).expect(200).json(), json!([]));
    server.get("/p/a/api/info", None).expect(404);
    deploy("a", "seated", gala_params()).expect(201);
    assert_eq!(field(deploy("a", "seated", gala_params()), 409), "namespace");
    assert_eq!(server.get("/api/v1/catalog", None).expect(200).json().as_array().unwrap().len(), 1);
}

#[test]
fn sellers_manage_only_their_own_performances() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let alice = server.account("alice@example.com", "seller");
    let bob = server.account("bob@example.com", "seller");
    server.deploy(&alice, "alices-show", "seated", gala_params());

    server.get("/api/v1/performances/alices-show", Some(&bob)).expect(403);
    server.delete("/api/v1/performances/alices-show", Some(&bob)).expect(403);
    assert_eq!(server.get("/api/v1/performances", Some(&bob)).expect(200).json(), json!([]));
    let admin = server.admin();
    assert_eq!(server.get("/api/v1/performances", Some(&admin)).expect(200).json().as_array().unwrap().len(), 1);

    server.get("/p/alices-show/api/info", None).expect(200);
    server.delete("/api/v1/performances/alices-show", Some(&alice)).expect(204);
    server.get("/p/alices-show/api/info", None).expect(404);
    server.get("/api/v1/performances/alices-show", Some(&alice)).expect(404);
}

#[test]
fn restart_restores_performances_without_recompiling() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "kept", "seated", gala_params());
    let artifacts = |dir: &std::path::Path| {
        let mut found: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(dir.join("components"))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().modified().unwrap()))
            .collect();
        found.sort();
        found
    };
    let before = artifacts(&dir.0);
    assert!(!before.is_empty());
    let status = server.stop();
    assert!(status.success(), "SIGTERM must exit 0, got {status:?}");

    let server = Server::start(&dir);
    let info = server.get("/p/kept/api/info", None).expect(200).json();
    assert_eq!(info["title"], "Spring Gala");
    assert_eq!(artifacts(&dir.0), before, "a restart must map the compiled artifacts, not compile again");
    // Sessions survive too: the seller's refresh-free login still works on the new process.
    assert_eq!(server.get("/api/v1/performances", Some(&seller)).expect(200).json()[0]["namespace"], "kept");
}

#[test]
fn accounts_tokens_and_their_failures() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let signup = |body: Value| server.post("/api/v1/auth/signup", None, &body);
    let created = signup(json!({"email": "Ann@Example.com", "password": "a-good-password", "role": "buyer"})).expect(201).json();
    assert_eq!(created["email"], "ann@example.com");
    assert_eq!(created["role"], "buyer");
    signup(json!({"email": "ann@example.com", "password": "another-password", "role": "buyer"})).expect(409);
    assert_eq!(signup(json!({"email": "nope", "password": "a-good-password", "role": "buyer"})).expect(400).json()["field"], "email");
    assert_eq!(signup(json!({"email": "b@example.com", "password": "short", "role": "buyer"})).expect(400).json()["field"], "password");
    assert_eq!(signup(json!({"email": "b@example.com", "password": "a-good-password", "role": "admin"})).expect(400).json()["field"], "role");
    server.post_raw("/api/v1/auth/signup", None, &[], "[").expect(400);
    signup(json!({"email": "b@example.com"})).expect(400);

    server.post("/api/v1/auth/login", None, &json!({"email": "ann@example.com", "password": "wrong-password"})).expect(401);
    server.post("/api/v1/auth/login", None, &json!({"email": "ghost@example.com", "password": "a-good-password"})).expect(401);
    let pair = server.post("/api/v1/auth/login", None, &json!({"email": "ann@example.com", "password": "a-good-password"})).expect(200).json();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);

    // Rotation: the new pair works, the old refresh token is spent, and replaying it revokes the family.
    let old = pair["refresh_token"].as_str().unwrap();
    let next = server.post("/api/v1/auth/refresh", None, &json!({"refresh_token": old})).expect(200).json();
    server.post("/api/v1/auth/refresh", None, &json!({"refresh_token": old})).expect(401);
    server.post("/api/v1/auth/refresh", None, &json!({"refresh_token": next["refresh_token"]})).expect(401);

    // Logout revokes.
    let pair = server.post("/api/v1/auth/login", None, &json!({"email": "ann@example.com", "password": "a-good-password"})).expect(200).json();
    server.post("/api/v1/auth/logout", None, &json!({"refresh_token": pair["refresh_token"]})).expect(204);
    server.post("/api/v1/auth/refresh", None, &json!({"refresh_token": pair["refresh_token"]})).expect(401);

    // The logged-out session's access token dies with it; a tampered one is refused.
    server.get("/api/v1/performances", Some(pair["access_token"].as_str().unwrap())).expect(401);
    let token = server.login("ann@example.com", "a-good-password");
    let tampered = format!("{}x", token);
    server.get("/api/v1/performances", Some(&tampered)).expect(401);
    server.get("/api/v1/performances", Some(&token)).expect(403);
}

#[test]
fn templates_and_openapi_are_served() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let list = server.get("/api/v1/templates", None).expect(200).json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"seated"), "{names:?}");
    let seated = server.get("/api/v1/templates/seated", None).expect(200).json();
    assert!(seated["params"]["properties"]["sections"].is_object());
    assert!(seated["components"].is_object());
    server.get("/api/v1/templates/nope", None).expect(404);
    let openapi = server.get("/api/v1/openapi.json", None).expect(200).json();
    assert!(openapi["paths"]["/api/v1/performances"].is_object());
    server.get("/api/v1/nothing", None).expect(404);
}

#[test]
fn admins_manage_templates_and_deployed_performances_keep_theirs() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let admin = server.admin();
    let seller = server.account("seller@example.com", "seller");
    let buyer = server.account("buyer@example.com", "buyer");
    let mut custom = server.get("/api/v1/templates/seated", None).expect(200).json();
    custom["name"] = json!("gala-lite");
    custom["description"] = json!("seated, for the tests");
    custom.as_object_mut().unwrap().remove("defaults");
    custom["defaults"] = json!({"hold_ttl_seconds": 300, "per_buyer_limit": 2});
    custom["seating"] = json!("numbered-or-general");

    server.post("/api/v1/templates", Some(&seller), &custom).expect(403);
    server.post("/api/v1/templates", Some(&admin), &custom).expect(201);
    server.post("/api/v1/templates", Some(&admin), &custom).expect(409);
    let mut seated = custom.clone();
    seated["name"] = json!("seated");
    assert_eq!(server.put("/api/v1/templates/seated", Some(&admin), &seated).expect(409).json()["error"], "builtin_template");
    let mut broken = custom.clone();
    broken["routes"][0]["function"] = json!("nobody");
    assert_eq!(server.put("/api/v1/templates/gala-lite", Some(&admin), &broken).expect(400).json()["field"], "routes[0].function");
    let mut missing = custom.clone();
    missing["components"]["listing"] = json!("no-such-component");
    assert_eq!(server.put("/api/v1/templates/gala-lite", Some(&admin), &missing).expect(400).json()["field"], "components.listing");

    server.deploy(&seller, "early", "gala-lite", gala_params());
    let hold = json!({"session": "s1", "seats": ["R-1-1"]});
    server.post("/p/early/api/holds", Some(&buyer), &hold).expect(201);

    // Change the template: no booking any more. The deployed performance is untouched.
    let mut lite = custom.clone();
    let routes: Vec<serde_json::Value> = lite["routes"].as_array().unwrap().iter().filter(|r| r["function"] != "booking").cloned().collect();
    lite["routes"] = json!(routes);
    server.put("/api/v1/templates/gala-lite", Some(&admin), &lite).expect(200);
    server.deploy(&seller, "late", "gala-lite", gala_params());
    server.post("/p/late/api/holds", Some(&buyer), &json!({"session": "s1", "seats": ["R-1-2"]})).expect(404);
    server.post("/p/early/api/holds", Some(&buyer), &json!({"session": "s1", "seats": ["R-1-2"]})).expect(201);

    // A restart keeps the template; deleting it leaves its performances serving.
    assert!(server.stop().success());
    let server = Server::start(&dir);
    assert_eq!(server.get("/api/v1/templates/gala-lite", None).expect(200).json()["description"], "seated, for the tests");
    server.delete("/api/v1/templates/gala-lite", Some(&admin)).expect(204);
    server.delete("/api/v1/templates/seated", Some(&admin)).expect(409);
    server.get("/api/v1/templates/gala-lite", None).expect(404);
    server.get("/p/early/api/info", None).expect(200);
    assert_eq!(server.patch("/api/v1/performances/early", Some(&seller), &json!({"params": {"title": "x"}})).expect(409).json()["error"], "template_gone");
}
