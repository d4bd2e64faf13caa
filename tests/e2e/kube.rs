//! Cluster mode's control plane against a mock Kubernetes API server (there is none on this
//! machine): every deploy, PATCH and delete becomes a `Performance` object under the control
//! plane's field manager, off the request path and retried while the API server fails, and a
//! seller gets a TokenRequest token of its performance's account, never the control plane's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, gala_params, soon};

#[derive(Default)]
struct ApiState {
    /// Performance objects by name, as applied.
    performances: BTreeMap<String, Value>,
    /// Every request: method, path and query, body.
    seen: Vec<(String, String, Value)>,
    /// Applies still to refuse with 503.
    failing_applies: usize,
    /// Namespaces the cluster has, by name.
    namespaces: BTreeMap<String, Value>,
}

/// The few API server endpoints cluster mode uses, over an in-memory set of objects.
struct MockApi {
    url: String,
    state: Arc<Mutex<ApiState>>,
}

impl MockApi {
    fn start() -> Self {
        let state = Arc::new(Mutex::<ApiState>::default());
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
                    let state = shared.clone();
                    async move { answer(&state, method, uri, body) }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { url: format!("http://{}", rx.recv().unwrap()), state }
    }

    fn performance(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().performances.get(name).cloned()
    }

    fn seen(&self, method: &str, path: &str) -> Vec<(String, Value)> {
        let state = self.state.lock().unwrap();
        state.seen.iter().filter(|(m, p, _)| m == method && p.starts_with(path)).map(|(_, p, b)| (p.clone(), b.clone())).collect()
    }
}

fn status(code: u16, reason: &str) -> axum::response::Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn answer(state: &Mutex<ApiState>, method: Method, uri: Uri, body: Bytes) -> axum::response::Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    let path = uri.path().to_owned();
    state.seen.push((method.to_string(), uri.to_string(), body.clone()));
    const PERFORMANCES: &str = "/apis/marquee.dev/v1alpha1/performances";
    let name = path.strip_prefix(&format!("{PERFORMANCES}/")).map(str::to_owned);
    match (method, name) {
        (Method::GET, None) if path == PERFORMANCES => {
            let items: Vec<Value> = state.performances.values().cloned().collect();
            axum::Json(json!({"apiVersion": "marquee.dev/v1alpha1", "kind": "PerformanceList", "metadata": {}, "items": items})).into_response()
        }
        (Method::PATCH, Some(name)) => {
            if state.failing_applies > 0 {
                state.failing_applies -= 1;
                return status(503, "ServiceUnavailable");
            }
            let mut object = body;
            object["metadata"]["uid"] = json!(format!("uid-{name}"));
            state.performances.insert(name, object.clone());
            axum::Json(object).into_response()
        }
        (Method::DELETE, Some(name)) => match state.performances.remove(&name) {
            Some(object) => axum::Json(object).into_response(),
            None => status(404, "NotFound"),
        },
        (Method::GET, None) => match path.strip_prefix("/api/v1/namespaces/").and_then(|ns| state.namespaces.get(ns)) {
            Some(namespace) => axum::Json(namespace.clone()).into_response(),
            None => status(404, "NotFound"),
        },
        (Method::POST, None) => {
            // /api/v1/namespaces/mq-{name}/serviceaccounts/seller/token
            let parts: Vec<&str> = path.split('/').collect();
            match parts.as_slice() {
                ["", "api", "v1", "namespaces", ns, "serviceaccounts", "seller", "token"]
                    if ns.strip_prefix("mq-").is_some_and(|name| state.performances.contains_key(name)) =>
                {
                    let mut token = body;
                    token["status"] = json!({"token": format!("kube-token-{ns}"), "expirationTimestamp": "2026-12-02T15:00:00Z"});
                    (StatusCode::CREATED, axum::Json(token)).into_response()
                }
                _ => status(404, "NotFound"),
            }
        }
        _ => status(404, "NotFound"),
    }
}

#[test]
fn the_control_plane_mirrors_performances_into_kubernetes_and_hands_sellers_scoped_tokens() {
    let api = MockApi::start();
    let redis = LocalRedis::start("kube-mirror", "always").unwrap();
    let (url, dirs) = (redis.url(), [DataDir::new(), DataDir::new()]);
    let env = [("MARQUEE_STORE", url.as_str())];
    let control = Server::start_as(&["control", "--kube-api", &api.url], &dirs[0].0, &env);
    let runtime = Server::start_as(&["runtime"], &dirs[1].0, &env);
    soon("the control plane compares its performances with the cluster's at start", || {
        !api.seen("GET", "/apis/marquee.dev/v1alpha1/performances").is_empty()
    });

    let seller = control.account("seller@example.com", "seller");
    control.deploy(&seller, "gala", "seated", gala_params());
    let view = control.get("/api/v1/performances/gala", Some(&seller)).expect(200).json();
    soon("the deploy becomes a Performance", || api.performance("gala").is_some());
    soon("the runtime serves it", || runtime.get("/p/gala/api/info", None).status == 200);
    let object = api.performance("gala").unwrap();
    assert_eq!((object["apiVersion"].as_str(), object["kind"].as_str()), (Some("marquee.dev/v1alpha1"), Some("Performance")));
    assert_eq!(
        object["spec"],
        json!({"owner": view["owner"], "template": "seated", "digest": view["digest"], "placement": "shared"})
    );
    let (query, _) = api.seen("PATCH", "/apis/marquee.dev/v1alpha1/performances/gala")[0].clone();
    assert!(query.contains("fieldManager=marquee-control") && query.contains("force=true"), "{query}");

    // A change is a new digest on the same object.
    let patched = control.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"title": "Gala II"}})).expect(200).json();
    soon("the PATCH reaches the object", || api.performance("gala").is_some_and(|o| o["spec"]["digest"] == patched["digest"]));

    // The seller's token is its performance's account's, asked for by the control plane.
    let token = control.post("/api/v1/performances/gala/kubernetes-token", Some(&seller), &json!({})).expect(201).json();
    assert_eq!(token, json!({"namespace": "mq-gala", "service_account": "seller", "token": "kube-token-mq-gala", "expires_at": "2026-12-02T15:00:00Z"}));
    let (_, asked) = api.seen("POST", "/api/v1/namespaces/mq-gala/serviceaccounts/seller/token")[0].clone();
    assert_eq!(asked["spec"]["expirationSeconds"], 600);
    let other = control.account("other@example.com", "seller");
    control.post("/api/v1/performances/gala/kubernetes-token", Some(&other), &json!({})).expect(403);

    // The API server failing does not fail the deploy: the object follows once it answers.
    api.state.lock().unwrap().failing_applies = 2;
    control.deploy(&seller, "matinee", "standing", crate::booking::standing_house());
    soon("the retried write lands", || api.performance("matinee").is_some());
    assert!(api.state.lock().unwrap().failing_applies == 0);
    // Its account is not there until the operator makes it: a clear 409, not a 5xx.
    api.state.lock().unwrap().performances.remove("matinee");
    let refused = control.post("/api/v1/performances/matinee/kubernetes-token", Some(&seller), &json!({})).expect(409).json();
    assert_eq!(refused["error"], "not_provisioned");

    // A template may ask for dedicated runtimes, of a size the CRD accepts.
    let admin = control.admin();
    let mut template = control.get("/api/v1/templates/seated", Some(&admin)).expect(200).json();
    template["name"] = json!("arena");
    template["placement"] = json!("dedicated");
    for (runtime, field) in [
        (json!({"replicas": 0, "cpu": "1", "memory": "256Mi"}), "runtime.replicas"),
        (json!({"replicas": 2, "cpu": "lots", "memory": "256Mi"}), "runtime.cpu"),
        (json!({"replicas": 2, "cpu": "1", "memory": "256Mm"}), "runtime.memory"),
    ] {
        template["runtime"] = runtime;
        let refused = control.post("/api/v1/templates", Some(&admin), &template).expect(400).json();
        assert_eq!((refused["error"].as_str(), refused["field"].as_str()), (Some("invalid_template"), Some(field)));
    }
    template["runtime"] = json!({"replicas": 2, "cpu": "500m", "memory": "256Mi"});
    control.post("/api/v1/templates", Some(&admin), &template).expect(201);
    control.deploy(&seller, "finale", "arena", gala_params());
    soon("the dedicated performance's object", || api.performance("finale").is_some());
    let spec = &api.performance("finale").unwrap()["spec"];
    assert_eq!((&spec["placement"], &spec["runtime"]), (&json!("dedicated"), &json!({"replicas": 2, "cpu": "500m", "memory": "256Mi"})));

    control.delete("/api/v1/performances/gala", Some(&seller)).expect(204);
    soon("the delete removes the object", || api.performance("gala").is_none() && !api.seen("DELETE", "/apis/marquee.dev/v1alpha1/performances/gala").is_empty());
}

#[test]
fn a_name_whose_namespace_is_reserved_or_taken_is_refused_up_front() {
    let api = MockApi::start();
    let redis = LocalRedis::start("kube-names", "always").unwrap();
    let (url, dir) = (redis.url(), DataDir::new());
    let control = Server::start_as(&["control", "--kube-api", &api.url, "--platform-namespace", "mq-platform"], &dir.0, &[("MARQUEE_STORE", url.as_str())]);
    let seller = control.account("seller@example.com", "seller");
    let deploy = |name: &str| control.post("/api/v1/performances", Some(&seller), &json!({"namespace": name, "template": "seated", "params": gala_params()}));

    // Someone's namespace, and one a performance of that name left behind (the operator waits for it).
    let namespace = |name: &str, labels: Value| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
    api.state.lock().unwrap().namespaces.insert("mq-payments".into(), namespace("mq-payments", json!({"team": "payments"})));
    api.state.lock().unwrap().namespaces.insert("mq-encore".into(), namespace("mq-encore", json!({"marquee.dev/performance": "encore"})));
    let refused = deploy("payments").expect(409).json();
    assert_eq!((refused["error"].as_str(), refused["field"].as_str()), (Some("namespace_taken"), Some("namespace")));
    assert!(refused["message"].as_str().unwrap().contains("mq-payments"), "{refused}");
    deploy("encore").expect(201);

    // The platform's own namespace, and a name too long once prefixed.
    for name in ["platform", &"a".repeat(61)] {
        let refused = deploy(name).expect(400).json();
        assert_eq!((refused["error"].as_str(), refused["field"].as_str()), (Some("invalid_namespace"), Some("namespace")), "{name}");
    }
    assert!(api.performance("payments").is_none() && api.performance("platform").is_none());
    assert!(control.get("/api/v1/performances/payments", Some(&seller)).status == 404);
}

#[test]
fn without_cluster_mode_there_is_no_kubernetes_token() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let refused = server.post("/api/v1/performances/gala/kubernetes-token", Some(&seller), &json!({})).expect(404).json();
    assert_eq!(refused["error"], "not_found");
}
