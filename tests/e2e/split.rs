//! The roles apart: one `marquee control` and two `marquee runtime` processes sharing one
//! real `redis-server` (AOF on, `appendfsync always`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::booking::{GOOD_CARD, Sale, buyers, confirm, hold, seated_crowd, seated_house, standing_crowd, standing_house, survived};
use crate::testkit::{DataDir, Server, gala_params, soon};

struct Cluster {
    control: Server,
    a: Server,
    b: Server,
    redis: LocalRedis,
    _dirs: Vec<DataDir>,
}

impl Cluster {
    fn start(name: &str) -> Self {
        let redis = LocalRedis::start(name, "always").unwrap();
        let dirs: Vec<DataDir> = (0..3).map(|_| DataDir::new()).collect();
        let url = redis.url();
        let env = [("MARQUEE_STORE", url.as_str()), ("MARQUEE_HISTORY_INTERVAL_MS", "200")];
        let control = Server::start_as(&["control"], &dirs[0].0, &env);
        let a = Server::start_as(&["runtime"], &dirs[1].0, &env);
        let b = Server::start_as(&["runtime"], &dirs[2].0, &env);
        Self { control, a, b, redis, _dirs: dirs }
    }

    /// Lets a paused Redis go on and waits until every process (and `others`) sees it answer
    /// again: until then each answers 503 `store_unavailable` at once.
    fn resume(&self, others: &[&Server]) {
        self.redis.resume().unwrap();
        for server in [&self.control, &self.a, &self.b].into_iter().chain(others.iter().copied()) {
            soon("a process sees the store answer again", || server.get("/readyz", None).status == 200);
        }
    }

    /// Deploys on the control plane and waits until both runtimes serve it.
    fn deploy(&self, token: &str, namespace: &str, template: &str, params: Value) {
        self.control.deploy(token, namespace, template, params);
        for runtime in [&self.a, &self.b] {
            soon("a runtime serves the new performance", || runtime.get(&format!("/p/{namespace}/api/info"), None).status == 200);
        }
    }
}

/// The title a runtime serves now, if its listing answers with JSON (while a roll is on its
/// way, the other component may still answer).
fn title(server: &Server, ns: &str) -> Option<Value> {
    let reply = server.get(&format!("/p/{ns}/api/info"), None);
    let info: Value = serde_json::from_str(&reply.text).ok().filter(|_| reply.status == 200)?;
    Some(info["title"].clone())
}

#[test]
fn every_change_on_the_control_plane_reaches_every_runtime_within_milliseconds() {
    let cluster = Cluster::start("split-changes");
    let (control, a, b) = (&cluster.control, &cluster.a, &cluster.b);
    let seller = control.account("seller@example.com", "seller");
    let deployed = Instant::now();
    cluster.deploy(&seller, "gala", "seated", gala_params());
    assert!(deployed.elapsed() < Duration::from_secs(2));
    // Each process serves its part only.
    assert_eq!(control.get("/p/gala/api/info", None).expect(404).json()["error"], "not_found");
    a.get("/api/v1/templates", None).expect(404);
    a.get("/metrics", None).expect(200);

    control.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"title": "Gala, moved"}})).expect(200);
    for runtime in [a, b] {
        soon("a patch reaches the runtimes", || title(runtime, "gala").is_some_and(|t| t == "Gala, moved"));
    }

    // A component uploaded on the control plane runs on runtimes that never saw it.
    let bytes = std::fs::read(env!("MARQUEE_HOSTILE_WASM")).unwrap();
    let digest = crate::isolation::upload(control, &seller, "hostile", &bytes).expect(201).json()["digest"].clone();
    control.patch("/api/v1/performances/gala", Some(&seller), &json!({"components": {"listing": digest}})).expect(200);
    for runtime in [a, b] {
        soon("a rolled component reaches the runtimes", || runtime.get("/p/gala/api/info?do=ok", None).text == "fine");
    }
    control.patch("/api/v1/performances/gala", Some(&seller), &json!({"components": {"listing": "listing"}})).expect(200);
    for runtime in [a, b] {
        soon("and the roll back", || title(runtime, "gala").is_some_and(|t| t == "Gala, moved"));
    }

    // A runtime with --only serves its performances and no other.
    let dir = DataDir::new();
    let url = cluster.redis.url();
    let only = Server::start_as(&["runtime", "--only", "fest"], &dir.0, &[("MARQUEE_STORE", &url)]);
    cluster.deploy(&seller, "fest", "seated", gala_params());
    soon("the --only runtime serves its performance", || only.get("/p/fest/api/info", None).status == 200);
    only.get("/p/gala/api/info", None).expect(404);

    // A delete leaves every runtime.
    control.delete("/api/v1/performances/gala", Some(&seller)).expect(204);
    for runtime in [a, b] {
        soon("a delete reaches the runtimes", || runtime.get("/p/gala/api/info", None).status == 404);
    }
    // A runtime started later serves what the directory holds.
    let late_dir = DataDir::new();
    let late = Server::start_as(&["runtime"], &late_dir.0, &[("MARQUEE_STORE", &url)]);
    late.get("/p/fest/api/info", None).expect(200);
    late.get("/p/gala/api/info", None).expect(404);

    // A deploy the directory did not take did not happen: a 503, nothing kept anywhere, even
    // once the stalled Redis applies what it was sent meanwhile; then the namespace deploys.
    let admin = control.admin();
    let body = json!({"namespace": "stalled", "template": "seated", "params": gala_params()});
    cluster.redis.pause().unwrap();
    let refused = control.post("/api/v1/performances", Some(&admin), &body);
    cluster.resume(&[&late]);
    assert_eq!((refused.status, refused.json()["error"].as_str()), (503, Some("store_unavailable")), "{refused:?}");
    control.get("/api/v1/performances/stalled", Some(&admin)).expect(404);
    std::thread::sleep(Duration::from_secs(1));
    for runtime in [a, b, &late] {
        runtime.get("/p/stalled/api/info", None).expect(404);
    }
    cluster.deploy(&admin, "stalled", "seated", gala_params());

    // So is a patch: the previous version stays, here and on every runtime.
    cluster.redis.pause().unwrap();
    let refused = control.patch("/api/v1/performances/stalled", Some(&admin), &json!({"params": {"title": "Never"}}));
    cluster.resume(&[&late]);
    assert_eq!(refused.status, 503, "{refused:?}");
    let kept = control.get("/api/v1/performances/stalled", Some(&admin)).expect(200).json();
    assert_eq!(kept["params"]["title"], gala_params()["title"]);
    std::thread::sleep(Duration::from_secs(1));
    for runtime in [a, b, &late] {
        assert_eq!(title(runtime, "stalled"), Some(gala_params()["title"].clone()));
    }

    // Any call the store does not answer is a 503 to retry, not a 500; the retry works.
    cluster.redis.pause().unwrap();
    let refused = control.delete("/api/v1/performances/stalled", Some(&admin));
    cluster.resume(&[&late]);
    assert_eq!((refused.status, refused.json()["error"].as_str()), (503, Some("store_unavailable")), "{refused:?}");
    control.delete("/api/v1/performances/stalled", Some(&admin)).expect(204);
    for runtime in [a, b, &late] {
        soon("a retried delete reaches the runtimes", || runtime.get("/p/stalled/api/info", None).status == 404);
    }

    // A delete whose directory write the store refuses stands on the control plane; the
    // runtimes keep serving until the directory takes writes again, then learn of it.
    cluster.deploy(&admin, "halfway", "seated", gala_params());
    cluster.redis.freeze_directory(true).unwrap();
    control.delete("/api/v1/performances/halfway", Some(&admin)).expect(204);
    control.get("/api/v1/performances/halfway", Some(&admin)).expect(404);
    std::thread::sleep(Duration::from_millis(1500));
    a.get("/p/halfway/api/info", None).expect(200);
    cluster.redis.freeze_directory(false).unwrap();
    for runtime in [a, b, &late] {
        soon("a delete the store took late reaches the runtimes", || runtime.get("/p/halfway/api/info", None).status == 404);
    }
}

#[test]
fn a_flash_crowd_over_two_runtimes_never_oversells() {
    let cluster = Cluster::start("split-crowd");
    let (control, a, b) = (&cluster.control, &cluster.a, &cluster.b);
    let seller = control.account("seller@example.com", "seller");
    cluster.deploy(&seller, "crowd", "seated", seated_house());
    cluster.deploy(&seller, "field", "standing", standing_house());
    let buyers = buyers(control, 16);

    let orders = seated_crowd(&[a, b], "crowd", &buyers);
    assert_eq!(crate::testkit::all_orders(control, &seller, "crowd").len(), orders.len());
    // The console's history on the control plane counts the requests both runtimes served.
    std::thread::sleep(Duration::from_millis(600));
    let series = control.get("/api/v1/performances/crowd/metrics?range=1m&step=1s", Some(&seller)).expect(200).json();
    let step = series["step_seconds"].as_f64().unwrap();
    let served: f64 = series["functions"]["booking"].as_array().unwrap().iter().map(|p| p["requests_per_second"].as_f64().unwrap() * step).sum();
    assert!(served >= orders.len() as f64, "the history counts {served:.0} booking requests for {} orders", orders.len());

    standing_crowd(&[a, b], "field", &buyers);
}

#[test]
fn holds_keys_and_expiry_are_one_truth_for_every_runtime() {
    let cluster = Cluster::start("split-holds");
    let (control, a, b) = (&cluster.control, &cluster.a, &cluster.b);
    let seller = control.account("seller@example.com", "seller");
    let ann = control.account("ann@example.com", "buyer");
    let mut params = gala_params();
    params["hold_ttl_seconds"] = json!(5);
    cluster.deploy(&seller, "quick", "seated", params);

    // Held through A, paid through B.
    let held = hold(a, "quick", &ann, json!({"session": "s1", "seats": ["R-1-1"]})).expect(201).json();
    let order = confirm(b, "quick", &ann, held["hold_id"].as_str().unwrap(), GOOD_CARD).expect(201).json();
    assert_eq!(order["tickets"][0]["seat"], "R-1-1");
    hold(b, "quick", &ann, json!({"session": "s1", "seats": ["R-1-1"]})).expect(409);
    // The ticket signed on B admits at the door, which the control plane keeps.
    let ticket = json!({"order_id": order["order_id"], "seat": "R-1-1", "code": order["tickets"][0]["code"]});
    let admitted = control.post("/api/v1/performances/quick/checkin", Some(&seller), &ticket).expect(200).json();
    assert_eq!((&admitted["valid"], &admitted["status"]), (&json!(true), &json!("checked_in")));

    // One key, one hold, whichever runtime is asked.
    let key = [("Idempotency-Key", "retry-1")];
    let body = json!({"session": "s1", "seats": ["R-2-2"]}).to_string();
    // A hold Redis does not answer is a 503 to retry with the same key, not the function's 500.
    cluster.redis.pause().unwrap();
    let stalled = a.post_raw("/p/quick/api/holds", Some(&ann), &key, &body);
    cluster.resume(&[]);
    assert_eq!((stalled.status, stalled.json()["error"].as_str()), (503, Some("store_unavailable")), "{stalled:?}");
    let first = a.post_raw("/p/quick/api/holds", Some(&ann), &key, &body).expect(201).json();
    let again = b.post_raw("/p/quick/api/holds", Some(&ann), &key, &body).expect(201).json();
    assert_eq!(first["hold_id"], again["hold_id"]);

    // Expired by the store's clock: 410 on both.
    std::thread::sleep(Duration::from_millis(5500));
    let id = first["hold_id"].as_str().unwrap();
    for runtime in [a, b] {
        assert_eq!(confirm(runtime, "quick", &ann, id, GOOD_CARD).expect(410).json()["error"], "hold_expired");
    }
}

#[test]
fn a_runtime_killed_mid_sale_leaves_the_other_selling_and_loses_no_order() {
    let cluster = Cluster::start("split-kill");
    let Cluster { control, a, b, .. } = cluster;
    let seller = control.account("seller@example.com", "seller");
    control.deploy(&seller, "crash", "seated", Sale::house());
    for runtime in [&a, &b] {
        soon("both runtimes serve it", || runtime.get("/p/crash/api/info", None).status == 200);
    }
    // Enough buyers that their per-buyer limits (100 tickets, unpaid holds included) do not
    // stop the sale before the seats do.
    let buyers = buyers(&control, 16);

    let on_a = Sale::start(&a.base, "crash", &buyers, Duration::from_secs(30));
    let on_b = Sale::start(&b.base, "crash", &buyers, Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(1000));
    a.kill();
    let b_when_a_died = on_b.confirmed.lock().unwrap().len();
    let (mut confirmed, _) = on_a.join();
    let (on_b, _) = on_b.join();
    assert!(on_b.len() > b_when_a_died, "B kept selling after A died ({b_when_a_died} then {})", on_b.len());
    assert!(confirmed.len() > 10, "A sold before it died, {}", confirmed.len());
    confirmed.extend(on_b);
    // Every order that got a 2xx is in Redis (and a few more: confirms A committed but died
    // before answering), no seat in two of them.
    survived(&b, "crash", &buyers, &confirmed);
    let listed = crate::testkit::all_orders(&control, &seller, "crash");
    let listed: HashSet<&str> = listed.iter().map(|o| o["order_id"].as_str().unwrap()).collect();
    assert!(confirmed.iter().all(|(_, id, _)| listed.contains(id.as_str())), "the seller's list has every 2xx order");
}

/// What Kubernetes waits on: each runtime reports, by the spec's digest, what it serves, and a
/// runtime started for one performance is not ready until it serves it.
#[test]
fn runtimes_report_the_spec_they_serve_and_an_only_runtime_is_ready_once_it_serves() {
    let cluster = Cluster::start("split-serving");
    let (control, a, b) = (&cluster.control, &cluster.a, &cluster.b);
    let seller = control.account("seller@example.com", "seller");
    let url = cluster.redis.url();
    let dir = DataDir::new();
    let only = Server::start_as(&["runtime", "--only", "solo"], &dir.0, &[("MARQUEE_STORE", url.as_str())]);
    for server in [control, a, b, &only] {
        assert_eq!(server.get("/healthz", None).expect(200).json()["status"], "ok");
    }
    assert_eq!(only.get("/readyz", None).expect(503).json()["error"], "not_ready");
    assert_eq!(a.get("/readyz", None).expect(200).json()["status"], "ready");

    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let redis = tokio.block_on(marquee_store_redis::RedisStore::connect(&url, marquee_store_redis::Durability::Relaxed)).unwrap();
    let serving = |ns: &str, digest: &str| tokio.block_on(redis.serving(ns, digest)).unwrap();

    cluster.deploy(&seller, "solo", "seated", gala_params());
    let digest = control.get("/api/v1/performances/solo", Some(&seller)).expect(200).json()["digest"].as_str().unwrap().to_owned();
    assert_eq!(digest.len(), 64);
    soon("the --only runtime is ready", || only.get("/readyz", None).status == 200);
    soon("all three runtimes report serving it", || serving("solo", &digest).len() == 3);

    // A change is a new digest, reported by every runtime as it takes it.
    let patched = control.patch("/api/v1/performances/solo", Some(&seller), &json!({"params": {"title": "Solo II"}})).expect(200).json();
    let new_digest = patched["digest"].as_str().unwrap().to_owned();
    assert_ne!(new_digest, digest);
    soon("every runtime reports the new spec", || serving("solo", &new_digest).len() == 3);
    assert!(serving("solo", &digest).is_empty(), "no runtime reports the old spec any more");
}
