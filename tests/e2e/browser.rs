//! Split-token browser sessions in a real headless Chromium (Debian's, driven by
//! playwright-core from tests/browser; `.ci/run` installs both).

use std::path::Path;
use std::process::Command;
use std::sync::Once;

use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, buy_one, gala_params};

#[test]
fn split_token_sessions_work_in_chromium_and_either_half_alone_fails() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());

    let seen = browse(
        "split-token.mjs",
        &server,
        &[("NS", "gala"), ("EMAIL", "seller@example.com"), ("PASSWORD", "a-good-password")],
    );
    assert_eq!(seen["login"], 200);
    assert_eq!(seen["pageTokenParts"], 2, "the page holds header.payload only");
    assert_eq!(seen["scriptVisibleCookies"], "", "session cookies are HttpOnly");
    assert_eq!(seen["bothHalves"], 200);
    assert_eq!(seen["cookieOnly"], 401, "the cookie alone cannot act");
    assert_eq!(seen["pagePartOnly"], 401, "the page-held part alone cannot act");
    assert_eq!(seen["refresh"], 200);
    assert_eq!(seen["fresh"], 200);
    assert_eq!(seen["crossSiteRefresh"], 401, "SameSite=Strict keeps cross-site forms out");
    assert_eq!(seen["logout"], 204);
    assert_eq!(seen["refreshAfterLogout"], 401);
    assert_eq!(seen["consoleErrors"], json!([]), "console errors: {}", seen["consoleErrors"]);
}

#[test]
fn a_performance_s_own_page_sells_sandboxed_and_the_console_never_runs_seller_javascript() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    crate::isolation::upload(&server, &seller, "hostile", &std::fs::read(env!("MARQUEE_HOSTILE_WASM")).unwrap()).expect(201);
    let evil = json!({"namespace": "evil", "template": "seated", "params": gala_params(), "components": {"listing": "hostile@1.0.0"}});
    server.post("/api/v1/performances", Some(&seller), &evil).expect(201);
    server.account("fan@example.com", "buyer");
    let env = [("NS", "gala"), ("EVIL", "evil"), ("EMAIL", "fan@example.com"), ("PASSWORD", "a-good-password")];
    let seen = browse_console("sandbox.mjs", &server, &env, 1);
    assert!(seen["backAt"].as_str().unwrap().ends_with("/p/gala/#signed-in"), "the token left the address bar: {seen}");
    assert_eq!(seen["keptPick"], "true", "the seat picked before signing in is picked still: {seen}");
    assert!(seen["afterReload"].as_str().unwrap().starts_with("Seats R-1-2"), "a reload keeps the buyer signed in: {seen}");
    assert!(seen["afterSignOut"].as_str().unwrap().starts_with("Sign in as a buyer"), "signed out in the console, signed out here: {seen}");
    assert_eq!(seen["probes"], json!({"origin": "null", "cookies": "blocked", "storage": "blocked", "platformCall": "blocked"}), "{seen}");
    assert_eq!(seen["tickets"], json!(["R-1-1"]));
    assert_eq!(seen["consoleRanSellerScript"], false);
}

#[test]
fn the_storefront_sells_goods_takes_a_presale_code_and_names_an_unknown_address() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let festival = json!({
        "title": "Fest", "venue": "Field",
        "sessions": [{"id": "d1", "starts_at": "2027-07-01T12:00:00Z"}],
        "sections": [{"name": "GA", "price": 5000, "capacity": 100}],
        "goods": [{"name": "SHIRT", "price": 2500, "stock": 10, "per_buyer_limit": 3}],
        "per_buyer_limit": 6
    });
    server.deploy(&seller, "fest", "festival", festival);
    let mut presale = gala_params();
    presale["presale_codes"] = json!(["EARLY-BIRD"]);
    server.deploy(&seller, "pre", "presale", presale);
    server.account("fan@example.com", "buyer");
    let env = [("FEST", "fest"), ("PRE", "pre"), ("EMAIL", "fan@example.com"), ("PASSWORD", "a-good-password")];
    let seen = browse_console("storefronts.mjs", &server, &env, 1);
    assert_eq!(seen["goods"], json!(["goods-SHIRT"]), "{seen}");
    assert_eq!(seen["festEmpty"], "Choose how many you want.", "a page without a seat map asks for no seats");
    assert_eq!(seen["most"], json!({"standing": "6", "goods": "3"}), "the fields offer what one buyer may have");
    assert_eq!(seen["goodsClamped"], "3");
    assert!(seen["festSummary"].as_str().unwrap().contains("1 standing and 2 goods"), "{seen}");
    assert_eq!(seen["admitted"], "Code accepted: you may book.");
    assert!(seen["unknown"].as_str().unwrap().contains("no performance \"no-such-show\""), "{seen}");
    // A buyer without a code is told what to do, not which endpoint to call.
    let late = server.account("late@example.com", "buyer");
    let refused = server.post("/p/pre/api/holds", Some(&late), &json!({"session": "s1", "seats": ["R-5-5"]})).expect(403).json();
    assert_eq!(refused["message"], "this presale admits only buyers with a code: enter the code the seller gave you", "{refused}");
    // The hold the festival screen made took the goods from the shared stock.
    let left = server.get("/p/fest/api/sessions/d1/availability", None).expect(200).json();
    assert_eq!(left["goods"][0]["available"], 8, "{left}");
}

/// Builds web/ once per test run, as the README's run command does.
fn build_console() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        let steps: &[&[&str]] = if web.join("node_modules").exists() { &[&["run", "build"]] } else { &[&["ci", "--no-audit", "--no-fund"], &["run", "build"]] };
        for args in steps {
            let output = Command::new("npm").args(*args).current_dir(&web).output().expect("npm must be installed");
            assert!(output.status.success(), "npm {args:?} in web/ failed:\n{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        }
    });
}

/// Runs a script of tests/browser against `server`; it prints one JSON object.
fn browse(script: &str, server: &Server, env: &[(&str, &str)]) -> Value {
    let output = Command::new("node")
        .arg(script)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/browser"))
        .env("MARQUEE_URL", &server.base)
        .envs(env.iter().copied())
        .output()
        .expect("node must be installed (bash .ci/run installs the browser test's packages)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed (run `npm ci` in tests/browser and install chromium):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("the script prints one JSON object")
}

/// Runs a console script on a freshly built console and checks what every screen must do:
/// fit 375 px without a sideways scroll, leave its screenshots, log no console error.
fn browse_console(script: &str, server: &Server, env: &[(&str, &str)], screenshots: usize) -> Value {
    build_console();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut env = env.to_vec();
    env.push(("SCREENSHOTS", shots.to_str().unwrap()));
    let seen = browse(script, server, &env);
    for (screen, px) in seen["overflow"].as_object().unwrap() {
        assert!(px.as_i64().unwrap() <= 0, "{screen} scrolls sideways by {px} px");
    }
    let taken = seen["screenshots"].as_array().unwrap();
    assert_eq!(taken.len(), screenshots, "{seen}");
    for shot in taken {
        assert!(std::fs::metadata(shot.as_str().unwrap()).unwrap().len() > 1000, "{shot}");
    }
    assert_eq!(seen["consoleErrors"], json!([]), "console errors: {}", seen["consoleErrors"]);
    seen
}

#[test]
fn a_seller_signs_up_in_the_console_deploys_from_the_form_and_sees_it_live() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seen = browse_console("console.mjs", &server, &[], 6);
    assert_eq!(seen["firstScreen"], "What's on", "{seen}");
    assert_eq!(seen["afterSignup"], "#/deploy");
    assert_eq!(seen["who"], "sam@example.com (seller)");
    assert_eq!(seen["keyboardTemplate"], "New presale performance", "an arrow key chose the next template");
    assert_eq!(seen["suggestedAddress"], "spring-gala");
    assert_eq!(seen["axe"], json!({"deploy1280": [], "deploy375": []}), "serious or critical accessibility findings on the deploy screen");
    assert_eq!(seen["deployedSections"], json!(["map", "standing"]), "{seen}");
    assert_eq!(seen["standingFields"], json!(["section-name", "price", "capacity"]), "a standing section asks for no rows or seats");
    let described = &seen["described"];
    assert_eq!((&described["currency"], &described["time_zone"], &described["price"]), (&json!("KRW"), &json!("Europe/Vienna"), &json!(45000)), "{seen}");
    assert_eq!(described["description"], "A night of Strauss.");
    assert_eq!(seen["poster"], json!({"type": "image/jpeg", "cache": "public, max-age=31536000, immutable"}), "{seen}");
    assert_eq!(seen["storefrontPoster"], json!({"width": 1200, "height": 1800, "alt": "Poster of Spring Gala"}), "the page shows the poster, fitted");
    // The session was typed as 20:00 on the venue's clock: 19:00 or 18:00 UTC, whatever the browser's zone.
    let starts = described["starts_at"].as_str().unwrap();
    assert!(starts.ends_with("T19:00:00Z") || starts.ends_with("T18:00:00Z"), "{starts}");
    assert!(seen["catalog"].as_str().unwrap().contains("Spring Gala"), "{seen}");
    let deployed = seen["deployedText"].as_str().unwrap();
    assert!(deployed.starts_with("Live in ") && deployed.contains("first answer 200"), "{deployed}");
    assert!(seen["listed"].as_str().unwrap().contains("Spring Gala"), "{seen}");
    assert!(seen["taken"].as_str().unwrap().contains("spring-gala"), "{seen}");
    assert_eq!(seen["provokedRefusals"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen["invalidAddress"], true);
    assert_eq!(seen["titleKept"], "Spring Gala", "a refused deploy keeps the form");
    assert_eq!(seen["storefrontStatus"], 200);
    assert_eq!(seen["storefrontTitle"], "Spring Gala");
    assert_eq!(seen["afterReload"], "sam@example.com (seller)", "the session survives a reload");
}

#[test]
fn a_buyer_picks_two_seats_on_the_map_holds_pays_and_sees_a_rivals_seat_taken_live() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    server.account("buyer@example.com", "buyer");
    let rival = server.account("rival@example.com", "buyer");
    let seen = browse_console(
        "buyer.mjs",
        &server,
        &[("NS", "gala"), ("EMAIL", "buyer@example.com"), ("PASSWORD", "a-good-password"), ("RIVAL_TOKEN", &rival)],
        6,
    );
    assert_eq!(seen["title"], "Spring Gala", "{seen}");
    assert_eq!(seen["backAt"], "#/p/gala", "signing in returns to the storefront");
    assert_eq!(seen["keptAfterSignIn"], json!(["R-1-1"]), "the seat picked before signing in is kept");
    assert_eq!(seen["rivalHold"], 201);
    assert_eq!(seen["rivalSeatShownTaken"], true);
    assert_eq!(seen["focused"], "R-1-2", "the arrow key moved to the next seat");
    assert_eq!(seen["picked"], json!(["R-1-1", "R-1-2"]));
    assert!(seen["summary"].as_str().unwrap().contains("R-1-1, R-1-2 and 1 standing"), "{seen}");
    assert!(seen["countdown"].as_str().unwrap().starts_with("Held for 9:") || seen["countdown"] == "Held for 10:00", "{seen}");
    assert_eq!(seen["declined"]["onScreen"], true, "a declined card is told where the buyer looks: {seen}");
    assert!(seen["declined"]["text"].as_str().unwrap().contains("declined"), "{seen}");
    assert_eq!(seen["tickets"], json!(["R-1-1", "R-1-2", "S#1"]));
    assert_eq!(seen["afterPay"], json!({"standing": "0", "picked": 0, "summary": "Pick seats on the map.", "error": 0}), "{seen}");
    assert_eq!(seen["qrCodes"], json!(["QR code of R-1-1", "QR code of R-1-2", "QR code of S#1"]));
    assert_eq!(seen["afterCancel"], "cancelled");
    // The order was real and is cancelled on the platform: its seats are free again.
    let orders = server.get("/api/v1/orders", Some(&server.login("buyer@example.com", "a-good-password"))).expect(200).json();
    assert_eq!((orders[0]["status"].as_str(), orders[0]["tickets"].as_array().unwrap().len()), (Some("cancelled"), 3), "{orders}");
    let taken = server.get("/p/gala/api/sessions/s1/availability", None).expect(200).json()["taken"].clone();
    assert_eq!(taken, json!(["R-2-5"]));
}

#[test]
fn an_admin_uploads_a_component_and_manages_templates_in_the_console() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let admin = server.admin();
    let mut template = server.get("/api/v1/templates/standing", Some(&admin)).expect(200).json();
    template["name"] = json!("club-night");
    let seen = browse_console(
        "admin.mjs",
        &server,
        &[
            ("EMAIL", crate::testkit::ADMIN_EMAIL),
            ("PASSWORD", crate::testkit::ADMIN_PASSWORD),
            ("COMPONENT", env!("MARQUEE_STARTER_RUST_WASM")),
            ("TEMPLATE", &template.to_string()),
        ],
        2,
    );
    assert_eq!(seen["heading"], "Administration", "{seen}");
    assert_eq!(seen["suggestedName"], "my-storefront");
    assert!(seen["uploaded"].as_str().unwrap().starts_with("Added my-storefront@0.1.0 (listing world)"), "{seen}");
    assert_eq!(seen["templateAdded"], true);
    assert!(seen["templateDeleted"].as_str().unwrap().contains("club-night"), "{seen}");
    assert_eq!(seen["builtinDeleteButtons"], 0, "a built-in template offers a Delete the server refuses");
    assert_eq!(seen["templateMessageInView"], true, "the outcome shows beside the action");
    // What the console did, the API shows.
    let pool = server.get("/api/v1/components", Some(&admin)).expect(200).json();
    assert!(pool.as_array().unwrap().iter().any(|c| c["name"] == "my-storefront" && c["version"] == "0.1.0"), "{pool}");
    server.get("/api/v1/templates/club-night", None).expect(404);
}

#[test]
fn a_seller_watches_functions_and_sales_live_in_the_monitor() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_HISTORY_INTERVAL_MS", "200")]);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    for _ in 0..30 {
        server.get("/p/gala/api/info", None).expect(200);
    }
    buy_one(&server, "gala");
    let seen = browse_console(
        "monitor.mjs",
        &server,
        &[("NS", "gala"), ("EMAIL", "seller@example.com"), ("PASSWORD", "a-good-password")],
        2,
    );
    assert!(seen["functions"].as_array().unwrap().contains(&json!("listing")), "{seen}");
    assert!(seen["functions"].as_array().unwrap().contains(&json!("booking")), "{seen}");
    assert_eq!(seen["charts"], 5, "{seen}");
    let legend = seen["legend"].as_array().unwrap();
    for label in ["listing p99", "R sold", "S held"] {
        assert!(legend.contains(&json!(label)), "no {label} in {legend:?}");
    }
    assert_ne!(seen["rateBefore"], seen["rateAfter"], "the monitor did not refresh: {seen}");
    let window = seen["window"].as_str().unwrap();
    let times: Vec<&str> = window.split([',', ';']).nth(1).unwrap().split(" to ").map(str::trim).collect();
    assert!(window.starts_with("Requests per second, ") && times.len() == 2 && times.iter().all(|t| t.len() <= 8 && !t.contains("20")), "{window}");
}

#[test]
fn a_seller_s_markup_stays_text_and_a_component_s_cookies_stay_in_its_pages() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let mut params = gala_params();
    params["title"] = json!("<img src=x onerror=\"window.__pwned='title'\">");
    params["venue"] = json!("<b id=injected>Hall</b><marquee-injected></marquee-injected>");
    params["description"] = json!("<script>window.__pwned='description'</script><img src=x onerror=\"window.__pwned='description'\">");
    server.deploy(&seller, "xss", "seated", params);
    server.deploy(&seller, "gala", "seated", gala_params());
    crate::trust::hostile_gala(&server, &seller, "evil", "listing");
    buy_one(&server, "xss");
    let env = [
        ("NS", "xss"),
        ("EVIL", "evil"),
        ("GOOD", "gala"),
        ("SELLER", "seller@example.com"),
        ("BUYER", "buyer@example.com"),
        ("PASSWORD", "a-good-password"),
    ];
    build_console();
    let seen = browse("hostile-text.mjs", &server, &env);
    let screens = seen["screens"].as_object().unwrap();
    assert_eq!(screens.len(), 6, "{seen}");
    for (screen, found) in screens {
        assert_eq!(found, &json!({"ran": null, "elements": 0}), "{screen} rendered a seller's text as markup");
    }
    assert_eq!(seen["cookies"], json!(["theme /p/evil/"]), "{seen}");
    assert_eq!(seen["afterBomb"], json!({"console": 200, "other": 200}), "{seen}");
    assert_eq!(seen["redirect"], json!({"status": 302, "at": true}), "{seen}");
    assert_eq!(seen["consoleErrors"], json!([]), "console errors: {}", seen["consoleErrors"]);
}

#[test]
fn door_staff_scan_a_ticket_s_qr_code_with_the_camera_green_then_already_used() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    buy_one(&server, "gala");
    let door = server.post("/api/v1/performances/gala/door-tokens", Some(&seller), &json!({"label": "door B"})).expect(201).json();
    let env = [("NS", "gala"), ("EMAIL", "buyer@example.com"), ("PASSWORD", "a-good-password"), ("DOOR_TOKEN", door["token"].as_str().unwrap())];
    let seen = browse_console("door.mjs", &server, &env, 2);
    assert_eq!(seen["first"], "Admitted · R-1-1 · session s1", "{seen}");
    assert_eq!(seen["arrivals"], "Arrived: session s1: 1");
    let again = seen["again"].as_str().unwrap();
    assert!(again.starts_with("Already used at ") && again.contains(" at door B · R-1-1"), "{again}");
    assert_eq!(seen["undone"], "Entry undone: R-1-1 admits again");
    assert_eq!(seen["afterUndo"], "Admitted · R-1-1 · session s1");
    assert_eq!(seen["typedWrong"], "Not a ticket of this performance");
    // The platform agrees: the ticket is in, at door B, once.
    let orders = server.get("/api/v1/performances/gala/orders", Some(&seller)).expect(200).json();
    assert_eq!(orders[0]["tickets"][0]["door"], "B", "{orders}");
    assert_eq!(seen["axe"], json!({"door1280": [], "door375": []}), "serious or critical accessibility findings");
}

#[test]
fn a_seller_sees_sales_move_finds_an_order_by_seat_refunds_a_ticket_and_exports_csv() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    buy_one(&server, "gala");
    let env = [("NS", "gala"), ("EMAIL", "seller@example.com"), ("PASSWORD", "a-good-password"), ("BUYER", "buyer@example.com")];
    let seen = browse_console("desk.mjs", &server, &env, 2);
    assert_eq!((&seen["soldBefore"], &seen["soldAfter"]), (&json!("1"), &json!("2")), "{seen}");
    assert!(seen["movedWithinMs"].as_u64().unwrap() < 5000, "{seen}");
    assert_eq!(seen["percent"], "1% sold");
    assert!(seen["revenueLegend"].as_array().unwrap().contains(&json!("net (EUR)")), "a revenue line: {seen}");
    assert_eq!(seen["savedDetails"], json!({"title": "Spring Gala II", "description": "Now with a second act.", "poster": true}));
    assert_eq!(seen["priceLocked"], json!({"R": true, "S": false}), "only what has not sold may be repriced: {seen}");
    assert_eq!(seen["prices"], json!([["R", 120000], ["S", 9550]]), "S's new price, typed in euros, kept in cents");
    assert_eq!(seen["sessionLabel"], "Opening night");
    assert_eq!(seen["found"], json!([seen["order"]]), "found by its seat");
    assert_eq!(seen["refunded"], "R-3-3 (refunded)");
    assert!(seen["refundedFigure"].as_str().unwrap().contains("1,200"), "{seen}");
    assert!(seen["csvHeader"].as_str().unwrap().starts_with("order_id,created_at,session,status,buyer_email"), "{seen}");
    assert_eq!((&seen["csvRows"], &seen["csvHasOrder"]), (&json!(2), &json!(true)));
    let outbox: Vec<(String, String)> = serde_json::from_value(seen["outbox"].clone()).unwrap();
    for kind in ["confirmation", "refund"] {
        assert!(outbox.contains(&(kind.to_string(), "queued".to_string())), "{kind} waits in the outbox: {seen}");
    }
    assert!(seen["relay"].as_str().unwrap().starts_with("No mail relay is configured"), "{seen}");
    assert!(seen["previewSubject"].as_str().unwrap().starts_with("Your tickets: Spring Gala"), "{seen}");
    assert_eq!(seen["previewAttached"], "Attached: ticket-1.png, event.ics");
    assert_eq!(seen["axe"], json!({"desk1280": [], "desk375": []}), "serious or critical accessibility findings");
    // The platform agrees: the ticket was refunded and its seat is free.
    let order = server.get(&format!("/api/v1/performances/gala/orders/{}", seen["order"].as_str().unwrap()), Some(&seller)).expect(200).json();
    assert_eq!((&order["status"], &order["refunded"]), (&json!("refunded"), &json!(120000)));
}

#[test]
fn a_buyer_in_new_york_sees_a_vienna_show_at_vienna_s_time_in_won_with_its_description() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", crate::desk::vienna_params());
    let seen = browse_console("venue.mjs", &server, &[("NS", "gala")], 2);
    for page in ["console", "ownPage"] {
        let shown = &seen[page];
        // 19:00 UTC is 20:00 in Vienna on 1 March (and 14:00 in New York, which it must not say).
        assert_eq!(shown["session"], "Opening night · Mar 1, 2027, 8:00 PM", "{page}: {shown}");
        assert_eq!(shown["price"], "R · ₩120,000", "{page}: {shown}");
        assert_eq!(shown["venue"], "Hall A · 150 minutes");
        assert_eq!(shown["description"], "A night of Strauss.\nTwo acts.");
        assert_eq!(shown["cast"], "With Anna Netrebko, Jonas Kaufmann");
    }
    assert_eq!(seen["axe"], json!({"storefront1280": [], "storefront375": []}), "serious or critical accessibility findings");
}
