//! Containment: a hostile component's every trick fails only its own request, while a
//! neighbouring namespace keeps answering; uploads are checked and stay their owner's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::testkit::{DataDir, Server, gala_params};

const HOSTILE: &str = env!("MARQUEE_HOSTILE_WASM");

pub(crate) fn upload(server: &Server, token: &str, name: &str, bytes: &[u8]) -> crate::testkit::Reply {
    server.post_bytes(&format!("/api/v1/components?name={name}&version=1.0.0"), Some(token), bytes)
}

#[test]
fn uploads_are_checked_and_belong_to_their_owner() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let alice = server.account("alice@example.com", "seller");
    let bob = server.account("bob@example.com", "seller");
    let buyer = server.account("buyer@example.com", "buyer");
    let bytes = std::fs::read(HOSTILE).unwrap();

    let reason = |reply: crate::testkit::Reply| reply.expect(400).json()["message"].as_str().unwrap().to_string();
    assert!(reason(upload(&server, &alice, "junk", b"definitely not wasm")).contains("not a WebAssembly component"));
    // The smallest core module: magic and version 1.
    assert!(reason(upload(&server, &alice, "core", b"\0asm\x01\0\0\0")).contains("core Wasm module"));
    let foreign = std::fs::read(env!("MARQUEE_FOREIGN_WASM")).unwrap();
    assert!(reason(upload(&server, &alice, "foreign", &foreign)).contains("imports acme:evil/spy"));
    // Refused before its body is read: the connection is closed, and the client told so. A
    // small body, so the answer is read before the close can cut a client still sending off
    // (a 200 KiB one lost that race on a busy machine: a broken pipe, not a 403).
    assert_eq!(upload(&server, &buyer, "nope", b"\0asm\x0d\0\x01\0").expect(403).header("connection"), Some("close"));
    let oversized = vec![0u8; (32 << 20) + 1];
    assert_eq!(upload(&server, &alice, "big", &oversized).expect(413).json()["error"], "too_large");
    server.post_bytes("/api/v1/components?name=bad%20name&version=1", Some(&alice), &bytes).expect(400);

    let uploaded = upload(&server, &alice, "hostile", &bytes).expect(201).json();
    let digest = uploaded["digest"].as_str().unwrap().to_string();
    assert_eq!(uploaded["world"], "listing");
    upload(&server, &alice, "hostile", &bytes).expect(409);
    // The same bytes again, under another name, are stored once.
    let again = server.post_bytes("/api/v1/components?name=hostile&version=2.0.0", Some(&alice), &bytes).expect(201).json();
    assert_eq!(again["digest"], digest);
    let files = std::fs::read_dir(dir.0.join("components")).unwrap().filter(|e| {
        e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&digest)
    });
    assert_eq!(files.count(), 2, "one .wasm and one .cwasm for the digest");

    let names = |token: &str| -> Vec<String> {
        let list = server.get("/api/v1/components", Some(token)).expect(200).json();
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    assert!(names(&alice).contains(&"hostile".to_string()));
    assert!(!names(&bob).contains(&"hostile".to_string()), "bob does not see alice's components");
    assert!(names(&bob).contains(&"listing".to_string()), "everyone sees the built-ins");

    let deploy = |token: &str, ns: &str, component: &str| {
        server.post(
            "/api/v1/performances",
            Some(token),
            &json!({"namespace": ns, "template": "seated", "params": gala_params(), "components": {"listing": component}}),
        )
    };
    assert_eq!(deploy(&bob, "stolen", &digest).expect(403).json()["error"], "component_not_yours");
    deploy(&bob, "stolen", "hostile@1.0.0").expect(403);
    deploy(&alice, "x", "no-such@1").expect(403);
    assert_eq!(server.post("/api/v1/performances", Some(&alice), &json!({"namespace": "x", "template": "seated", "params": gala_params(), "components": {"nope": "listing"}})).expect(400).json()["field"], "components.nope");
    deploy(&alice, "mine", "hostile@1.0.0").expect(201);
    assert_eq!(server.get("/p/mine/api/info", None).expect(200).text, "fine");
}

#[test]
fn every_hostile_case_is_contained_and_the_neighbour_keeps_answering() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_REQUEST_TIMEOUT_MS", "1500")]);
    let seller = server.account("seller@example.com", "seller");
    let digest = upload(&server, &seller, "hostile", &std::fs::read(HOSTILE).unwrap()).expect(201).json()["digest"].clone();
    server.post(
        "/api/v1/performances",
        Some(&seller),
        &json!({"namespace": "hostile", "template": "seated", "params": gala_params(), "components": {"listing": digest}}),
    )
    .expect(201);
    server.deploy(&seller, "calm", "seated", gala_params());

    // The neighbour is read throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let neighbour = {
        let (stop, served, failed, base) = (stop.clone(), served.clone(), failed.clone(), server.base.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            while !stop.load(Ordering::Relaxed) {
                match agent.get(format!("{base}/p/calm/api/info")).call() {
                    Ok(r) if r.status() == 200 => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let hostile = |action: &str| server.get(&format!("/p/hostile/api/info?do={action}"), None);
    let error = |action: &str, status: u16| hostile(action).expect(status).json()["error"].as_str().unwrap().to_string();
    assert_eq!(error("spin", 504), "timeout");
    assert_eq!(error("hostcalls", 504), "timeout");
    assert_eq!(error("bomb", 500), "function_out_of_memory");
    assert_eq!(error("recurse", 500), "function_trap");
    assert_eq!(error("panic", 500), "function_trap");

    // A huge response is cut off at the platform's cap, a dripping one by the wall clock.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let read = |action: &str| {
        let mut response = agent.get(server.url(&format!("/p/hostile/api/info?do={action}"))).call().unwrap();
        response.body_mut().with_config().limit(512 << 20).read_to_vec().map(|b| b.len()).unwrap_or(0)
    };
    let huge = read("huge");
    assert!(huge <= 16 << 20, "a 256 MiB response must be cut at 16 MiB, got {huge} bytes");
    let started = Instant::now();
    let dripped = read("drip");
    assert!(started.elapsed() < Duration::from_secs(15) && dripped < 100, "drip ran {:?}, {dripped} bytes", started.elapsed());

    // Several at once do not starve the neighbour either: the spinning namespace is over its
    // share of the CPU while the neighbour competes, so it runs at background priority, and
    // its keep-alive connection keeps working as it moves there and back.
    let metric = |name: &str, namespace: &str| -> f64 {
        let text = server.get("/metrics", None).expect(200).text;
        let prefix = format!("{name}{{namespace=\"{namespace}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0.0, |v| v.parse().unwrap())
    };
    let demoted = std::thread::scope(|s| {
        for action in ["spin", "bomb", "spin", "hostcalls"] {
            s.spawn(move || hostile(action));
        }
        let mut demoted = false;
        let kept_alive: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(10));
            let reply = kept_alive.get(server.url("/p/hostile/api/info?do=ok")).call().unwrap();
            assert_eq!(reply.status(), 200);
            demoted |= metric("marquee_namespace_background", "hostile") == 1.0;
            assert_eq!(metric("marquee_namespace_background", "calm"), 0.0, "the neighbour is never demoted");
        }
        demoted
    });
    assert!(demoted, "the spinning namespace was never moved to the background");
    assert!(metric("marquee_namespace_cpu_seconds_total", "hostile") > 5.0 * metric("marquee_namespace_cpu_seconds_total", "calm"));
    assert_eq!(hostile("ok").expect(200).text, "fine", "the namespace itself recovers");
    stop.store(true, Ordering::Relaxed);
    neighbour.join().unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "the neighbour saw errors");
    assert!(served.load(Ordering::Relaxed) > 50);

    let metrics = server.get("/metrics", None).expect(200).text;
    for kind in ["timeout", "memory", "trap"] {
        let line = format!("marquee_function_traps_total{{function=\"listing\",kind=\"{kind}\",namespace=\"hostile\"}}");
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
}

#[test]
fn a_live_performance_rolls_to_another_version_and_back_without_failing_a_request() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    upload(&server, &seller, "storefront", &std::fs::read(HOSTILE).unwrap()).expect(201);
    server.deploy(&seller, "live", "seated", gala_params());
    let token = server.post("/api/v1/performances/live/tokens", Some(&seller), &json!({})).expect(201).json()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (seen_new, seen_old) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, served, failed, seen_new, seen_old, base) =
                (stop.clone(), served.clone(), failed.clone(), seen_new.clone(), seen_old.clone(), server.base.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                while !stop.load(Ordering::Relaxed) {
                    match agent.get(format!("{base}/p/live/api/info")).call() {
                        Ok(mut r) if r.status() == 200 => {
                            served.fetch_add(1, Ordering::Relaxed);
                            let body = r.body_mut().read_to_string().unwrap_or_default();
                            if body == "fine" { &seen_new } else { &seen_old }.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    let mut switches = Vec::new();
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        // Forward with the namespace token (the seller's CI), back as the seller.
        let forward = server.patch("/api/v1/performances/live", Some(&token), &json!({"components": {"listing": "storefront@1.0.0"}}));
        switches.push(forward.expect(200).json()["switch_ms"].as_f64().unwrap());
        std::thread::sleep(Duration::from_millis(300));
        let back = server.patch("/api/v1/performances/live", Some(&seller), &json!({"components": {"listing": "listing"}}));
        switches.push(back.expect(200).json()["switch_ms"].as_f64().unwrap());
        assert!(round < 3);
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "a request failed during a version switch");
    assert!(seen_new.load(Ordering::Relaxed) > 0 && seen_old.load(Ordering::Relaxed) > 0);
    let slowest = switches.iter().cloned().fold(0.0, f64::max);
    println!("version switches under load: {} served, 0 failed, switch ms {switches:?}", served.load(Ordering::Relaxed));
    assert!(slowest < 1000.0, "a switch is one map insert, took {slowest} ms");
    // The switch is durable, and unknown or foreign versions are refused.
    let forward = server.patch("/api/v1/performances/live", Some(&seller), &json!({"components": {"listing": "storefront@9"}}));
    assert_eq!(forward.expect(403).json()["error"], "component_not_yours");
    server.patch("/api/v1/performances/live", Some(&seller), &json!({"components": {"listing": "storefront@1.0.0"}})).expect(200);
    assert!(server.stop().success());
    let server = Server::start(&dir);
    assert_eq!(server.get("/p/live/api/info", None).expect(200).text, "fine");
}

#[test]
fn a_namespace_past_its_queue_sheds_its_own_load_with_503() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_REQUEST_TIMEOUT_MS", "2000")]);
    let admin = server.admin();
    let seller = server.account("seller@example.com", "seller");
    upload(&server, &seller, "hostile", &std::fs::read(HOSTILE).unwrap()).expect(201);
    // A template that allows one instance and no queue.
    let mut tiny = server.get("/api/v1/templates/seated", None).expect(200).json();
    tiny["name"] = json!("tiny");
    tiny["limits"] = json!({"concurrency": 1, "queue": 0});
    tiny["seating"] = json!("numbered-or-general");
    server.post("/api/v1/templates", Some(&admin), &tiny).expect(201);
    server.post(
        "/api/v1/performances",
        Some(&seller),
        &json!({"namespace": "tiny", "template": "tiny", "params": gala_params(), "components": {"listing": "hostile@1.0.0"}}),
    )
    .expect(201);
    server.deploy(&seller, "roomy", "seated", gala_params());

    std::thread::scope(|s| {
        // The one slot spins until its budget runs out...
        let spinning = s.spawn(|| server.get("/p/tiny/api/info?do=spin", None));
        std::thread::sleep(Duration::from_millis(500));
        // ...so the next request of the same namespace is shed at once, and says when to retry,
        let shed = server.get("/p/tiny/api/info", None).expect(503);
        assert_eq!(shed.json()["error"], "overloaded");
        assert_eq!(shed.header("retry-after"), Some("1"));
        // while another namespace is served as usual.
        server.get("/p/roomy/api/info", None).expect(200);
        spinning.join().unwrap().expect(504);
    });
    assert_eq!(server.get("/p/tiny/api/info", None).expect(200).text, "fine", "the slot is free again");
}
