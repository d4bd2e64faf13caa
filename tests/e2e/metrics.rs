//! Per-function metrics: the Prometheus exposition, a real Prometheus scraping it, and the
//! console's range queries.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, buy_one, gala_params};

#[test]
fn metrics_are_exposed_per_function_and_forgotten_with_their_performance() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    for _ in 0..3 {
        server.get("/p/gala/api/info", None).expect(200);
    }
    server.get("/p/gala/api/sessions/nope/availability", None).expect(404);
    buy_one(&server, "gala");

    // What sellers sell is not public: an anonymous scrape has the functions' health only.
    let public = server.get("/metrics", None).expect(200).text;
    assert!(public.contains("marquee_function_requests_total{") && !public.contains("marquee_tickets_sold_total"), "{public}");
    let text = server.get("/metrics", Some(&server.admin())).expect(200).text;
    for line in [
        r#"marquee_function_requests_total{function="listing",namespace="gala",status="200"} 3"#,
        r#"marquee_function_requests_total{function="listing",namespace="gala",status="404"} 1"#,
        r#"marquee_function_requests_total{function="booking",namespace="gala",status="201"} 2"#,
        r#"marquee_holds_total{namespace="gala"} 1"#,
        r#"marquee_orders_total{namespace="gala"} 1"#,
        r#"marquee_tickets_sold_total{namespace="gala"} 1"#,
        r#"marquee_performances 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    for family in [
        "marquee_function_duration_seconds_bucket",
        "marquee_function_instantiation_seconds_bucket",
        "marquee_function_memory_peak_bytes",
        "marquee_function_in_flight",
    ] {
        assert!(text.contains(&format!("{family}{{")), "missing {family}");
    }
    server.post("/api/v1/performances/gala/cancel", Some(&seller), &json!({})).expect(200);
    let text = server.get("/metrics", None).expect(200).text;
    assert!(!text.contains(r#"namespace="gala""#), "a deleted performance's series remain:\n{text}");
}

#[test]
fn range_queries_give_rates_percentiles_and_sales_over_time() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_HISTORY_INTERVAL_MS", "200")]);
    let seller = server.account("seller@example.com", "seller");
    let other = server.account("other@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    buy_one(&server, "gala");
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        server.get("/p/gala/api/info", None).expect(200);
    }
    std::thread::sleep(Duration::from_millis(400));
    let series = server.get("/api/v1/performances/gala/metrics?range=1m&step=1s", Some(&seller)).expect(200).json();
    let listing = series["functions"]["listing"].as_array().unwrap();
    assert!(listing.iter().any(|p| p["requests_per_second"].as_f64().unwrap() > 1.0), "{listing:?}");
    assert!(listing.iter().any(|p| p["p99_ms"].as_f64().is_some()));
    let last: &Value = series["sales"].as_array().unwrap().last().unwrap();
    assert_eq!(last["sections"][0], json!({"name": "R", "sold": 1, "held": 0, "free": 199}));

    server.get("/api/v1/performances/gala/metrics", Some(&other)).expect(403);
    assert_eq!(series["step_seconds"], 1);
    server.get("/api/v1/performances/gala/metrics?range=2h", Some(&seller)).expect(400);
    server.get("/api/v1/performances/gala/metrics?range=99999999999999999999h", Some(&seller)).expect(400);
    server.get("/api/v1/performances/gala/metrics?step=soon", Some(&seller)).expect(400);
    server.get("/api/v1/performances/gala/metrics?range=01m", Some(&seller)).expect(400);
    // A step is a wish for resolution, as the document states: kept within the range and to
    // at most 1000 points, never refused.
    let step = |query: &str| server.get(&format!("/api/v1/performances/gala/metrics?{query}"), Some(&seller)).expect(200).json()["step_seconds"].clone();
    assert_eq!(step("range=1s&step=9m"), 1);
    assert_eq!(step("range=1h&step=1s"), 4);
    assert_eq!(step("range=1h&step=99999999999999999999h"), 3600);
}

#[test]
fn a_real_prometheus_scrapes_marquee_and_promql_sees_per_function_rates() {
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_METRICS_TOKEN", "scrape-secret")]);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    buy_one(&server, "gala");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = server.base.trim_start_matches("http://");
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: marquee\n    authorization:\n      credentials: scrape-secret\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.0.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus must be installed (bash .ci/run installs Debian's package)");

    // The platform's scraper, with its token, sees sales too.
    let query = "sum by (function) (rate(marquee_function_requests_total{namespace=\"gala\"}[5s])) and on() (max(marquee_orders_total{namespace=\"gala\"}) > 0)";
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answer = Value::Null;
    while Instant::now() < deadline {
        for _ in 0..20 {
            server.get("/p/gala/api/info", None).expect(200);
        }
        std::thread::sleep(Duration::from_millis(250));
        let reply = agent.get(format!("http://127.0.0.1:{port}/api/v1/query")).query("query", query).call();
        if let Ok(mut reply) = reply {
            answer = serde_json::from_str(&reply.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null);
            let listing = answer["data"]["result"].as_array().into_iter().flatten().find(|r| r["metric"]["function"] == "listing");
            if let Some(rate) = listing.and_then(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                && rate > 0.0
            {
                let bad = dashboard_queries_prometheus_refuses(&agent, port);
                let _ = prometheus.kill();
                let _ = prometheus.wait();
                assert!(bad.is_empty(), "the Grafana dashboard has queries Prometheus refuses: {bad:?}");
                return;
            }
        }
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    panic!("PromQL never saw a per-function request rate; last answer: {answer}");
}

/// Every query of cluster/deploy/grafana's dashboard, run against the live Prometheus.
fn dashboard_queries_prometheus_refuses(agent: &ureq::Agent, port: u16) -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(include_str!("../../cluster/deploy/grafana/marquee-dashboard.json")).expect("dashboard is JSON");
    let mut refused = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$namespace", ".*");
            let mut reply = agent.get(format!("http://127.0.0.1:{port}/api/v1/query")).query("query", &expr).call().unwrap();
            let answer: Value = serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap();
            if answer["status"] != "success" {
                refused.push(format!("{expr}: {answer}"));
            }
        }
    }
    refused
}
