//! The reconcile against a mock Kubernetes API server (`tower-test`): each scenario scripts the
//! requests it expects, in order, with the answer to each, and then checks what was sent, down
//! to the status written. There is no API server on this machine; what a real one would do with
//! these bodies is covered by the offline schema checks (`tests/cluster`).

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::{Client, Resource};
use marquee_operator::crd::{Backend, DedicatedRuntime, Performance, PerformanceSpec, PerformanceStatus, Placement};
use marquee_operator::objects::Platform;
use marquee_operator::reconcile::{self, Context, FINALIZER, RESYNC, RETRY, Serving, WAIT_FOR_SERVING};
use serde_json::{Value, json};

const DIGEST: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NEW_DIGEST: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const APPLY: &str = "?&force=true&fieldManager=marquee-operator";

/// What the runtimes report serving: (namespace, digest) -> processes.
#[derive(Default)]
struct Reports(Mutex<Vec<(String, String, String)>>);

impl Reports {
    fn serves(&self, namespace: &str, digest: &str, process: &str) {
        self.0.lock().unwrap().push((namespace.into(), digest.into(), process.into()));
    }
}

impl Serving for Reports {
    fn serving<'a>(&'a self, namespace: &'a str, digest: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        let found = self.0.lock().unwrap().iter().filter(|(n, d, _)| n == namespace && d == digest).map(|(_, _, p)| p.clone()).collect();
        Box::pin(async move { Ok(found) })
    }
}

/// One expected request and the answer to it.
struct Step {
    method: Method,
    /// Path and query, exactly.
    uri: String,
    answer: Answer,
}

enum Answer {
    /// 200 with the request's own body (what an apply returns, near enough).
    Echo,
    /// 200 with the request's body at generation 1 plus this `status` (a Deployment's, say).
    EchoWithStatus(Value),
    /// 200 with this body.
    Json(Value),
    /// An API error with this code.
    Error(u16, &'static str),
}

fn step(method: Method, uri: impl Into<String>, answer: Answer) -> Step {
    Step { method, uri: uri.into(), answer }
}

fn apply(path: &str) -> Step {
    step(Method::PATCH, format!("{path}{APPLY}"), Answer::Echo)
}

/// A request as the mock server received it.
#[derive(Debug)]
struct Seen {
    body: Value,
}

/// Runs `script` as the API server behind a fresh client; the returned task ends with every
/// request's body once the script is used up, and fails on any request it did not expect.
fn api_server(script: Vec<Step>) -> (Client, tokio::task::JoinHandle<Vec<Seen>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for expected in script {
            let (request, send) = handle.next_request().await.expect("the reconcile stopped before the script's end");
            let uri = request.uri().to_string();
            assert_eq!((request.method(), uri.as_str()), (&expected.method, expected.uri.as_str()), "request {}", seen.len() + 1);
            let bytes = request.into_body().collect().await.unwrap().to_bytes();
            let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
            let (status, answer) = match expected.answer {
                Answer::Echo => (200, body.clone()),
                Answer::EchoWithStatus(status) => {
                    let mut answer = body.clone();
                    answer["metadata"]["generation"] = json!(1);
                    answer["status"] = status;
                    (200, answer)
                }
                Answer::Json(value) => (200, value),
                Answer::Error(code, reason) => (
                    code,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason, "reason": reason, "code": code}),
                ),
            };
            let response = Response::builder().status(StatusCode::from_u16(status).unwrap()).body(Body::from(serde_json::to_vec(&answer).unwrap()));
            send.send_response(response.unwrap());
            seen.push(Seen { body });
        }
        seen
    });
    (Client::new(service, "default"), server)
}

fn platform() -> Platform {
    Platform {
        namespace: "marquee-system".into(),
        namespace_prefix: "mq-".into(),
        gateway: "marquee".into(),
        pool_service: "marquee-runtime".into(),
        port: 8080,
        image: "marquee:test".into(),
        store: "redis://marquee-redis:6379".into(),
        admit: vec!["envoy-gateway-system".into()],
        metrics_token: Some("scrape-token".into()),
        trusted_proxies: Some("10.96.0.0/12".into()),
    }
}

fn performance(name: &str, placement: Placement, generation: i64) -> Performance {
    let mut perf = Performance::new(
        name,
        PerformanceSpec {
            owner: "acct-1".into(),
            template: "seated".into(),
            digest: DIGEST.into(),
            placement,
            runtime: (placement == Placement::Dedicated)
                .then(|| DedicatedRuntime { replicas: 2, cpu: k8s_openapi::apimachinery::pkg::api::resource::Quantity("500m".into()), memory: k8s_openapi::apimachinery::pkg::api::resource::Quantity("256Mi".into()) }),
        },
    );
    let meta = perf.meta_mut();
    meta.uid = Some(UID.into());
    meta.generation = Some(generation);
    meta.resource_version = Some("7".into());
    meta.finalizers = Some(vec![FINALIZER.into()]);
    perf
}

fn context(client: Client, reports: Arc<Reports>) -> Arc<Context> {
    Arc::new(Context { client, platform: platform(), serving: reports })
}

const UID: &str = "0d6f5c8e-1111-2222-3333-444455556666";

/// The performance's namespace as the API server holds it, made by the performance `owner` (a uid).
fn namespace_made_by(name: &str, owner: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {
            "name": format!("mq-{name}"), "uid": "ns-uid-1",
            "labels": {"marquee.dev/performance": name},
            "ownerReferences": [{"apiVersion": "marquee.dev/v1alpha1", "kind": "Performance", "name": name, "uid": owner, "controller": true}]
        }
    })
}

/// The requests of a performance's objects in the order the reconcile applies them, up to the
/// route, once its namespace exists (it made it).
fn objects(name: &str) -> Vec<Step> {
    let ns = format!("mq-{name}");
    vec![
        step(Method::GET, format!("/api/v1/namespaces/{ns}"), Answer::Json(namespace_made_by(name, UID))),
        apply(&format!("/api/v1/namespaces/{ns}")),
        apply(&format!("/api/v1/namespaces/{ns}/serviceaccounts/seller")),
        apply(&format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/seller")),
        apply(&format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/marquee-seller-token")),
        apply(&format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/isolate")),
        apply(&format!("/api/v1/namespaces/{ns}/services/runtime")),
        apply(&format!("/apis/gateway.networking.k8s.io/v1/namespaces/marquee-system/referencegrants/{name}")),
    ]
}

/// The route's status as the Gateway writes it, at generation 1.
fn route_status(accepted: (&str, &str), resolved: (&str, &str)) -> Value {
    let c = |kind: &str, (status, reason): (&str, &str)| {
        json!({"type": kind, "status": status, "reason": reason, "message": format!("{kind} {reason}"), "observedGeneration": 1, "lastTransitionTime": "2026-12-06T10:00:00Z"})
    };
    json!({"parents": [
        // Another Gateway's word on it is not ours.
        {"parentRef": {"name": "elsewhere", "namespace": "other"}, "controllerName": "example.com/gw", "conditions": [c("Accepted", ("False", "NotAllowedByListeners"))]},
        {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "marquee", "namespace": "marquee-system"},
         "controllerName": "gateway.envoyproxy.io/gatewayclass-controller", "conditions": [c("Accepted", accepted), c("ResolvedRefs", resolved)]}
    ]})
}

fn route_answered(name: &str, status: Value) -> Step {
    step(
        Method::PATCH,
        format!("/apis/gateway.networking.k8s.io/v1/namespaces/mq-{name}/httproutes/performance{APPLY}"),
        Answer::EchoWithStatus(status),
    )
}

/// The route's apply, answered with the Gateway's acceptance.
fn route(name: &str) -> Step {
    route_answered(name, route_status(("True", "Accepted"), ("True", "ResolvedRefs")))
}

fn status_write(name: &str) -> Step {
    let perf = serde_json::to_value(performance(name, Placement::Shared, 1)).unwrap();
    step(Method::PATCH, format!("/apis/marquee.dev/v1alpha1/performances/{name}/status?"), Answer::Json(perf))
}

/// What a DELETE answers: the object on its way out.
fn gone(kind: &str, api_version: &str) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"name": "gala"}, "spec": {"from": [], "to": []}})
}

/// Every request of a shared performance's reconcile, the status write last.
fn shared(name: &str) -> Vec<Step> {
    let mut script = objects(name);
    script.push(route(name));
    script.push(status_write(name));
    script
}

/// Runtimes that report serving `gala` at `DIGEST`.
fn serving_gala() -> Arc<Reports> {
    let reports = Arc::new(Reports::default());
    reports.serves("gala", DIGEST, "pool-7f9c-1");
    reports
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

/// The status a reconcile wrote, as the object it reads next time.
fn with_status(mut perf: Performance, written: &Value) -> Performance {
    perf.status = Some(serde_json::from_value::<PerformanceStatus>(written["status"].clone()).unwrap());
    perf
}

#[tokio::test]
async fn a_new_performance_gets_the_finalizer_before_anything_else() {
    let mut perf = performance("gala", Placement::Shared, 1);
    perf.meta_mut().finalizers = None;
    let (client, server) = api_server(vec![step(
        Method::PATCH,
        "/apis/marquee.dev/v1alpha1/performances/gala?",
        Answer::Json(serde_json::to_value(performance("gala", Placement::Shared, 1)).unwrap()),
    )]);
    let action = reconcile::reconcile(Arc::new(perf), context(client, Arc::default())).await.unwrap();
    assert_eq!(action, Action::await_change());
    let seen = server.await.unwrap();
    let patch = seen[0].body.as_array().unwrap();
    assert!(patch.iter().any(|op| op["op"] == "add" && op["path"] == "/metadata/finalizers" && op["value"] == json!([FINALIZER])), "{patch:?}");
}

#[tokio::test]
async fn create_makes_the_namespace_then_applies_every_object_owned_by_the_performance_and_writes_its_status() {
    let reports = serving_gala();
    let mut script = shared("gala");
    script[0] = step(Method::GET, "/api/v1/namespaces/mq-gala", Answer::Error(404, "NotFound"));
    script.insert(1, step(Method::POST, "/api/v1/namespaces?&fieldManager=marquee-operator", Answer::Echo));
    let (client, server) = api_server(script);
    let action = reconcile::reconcile(Arc::new(performance("gala", Placement::Shared, 1)), context(client, reports)).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    let seen = server.await.unwrap();

    // Created, not applied: a namespace that appeared meanwhile would make the create fail.
    assert_eq!((seen[1].body["kind"].as_str(), seen[1].body["metadata"]["name"].as_str()), (Some("Namespace"), Some("mq-gala")));
    assert_eq!(seen[1].body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    let applied = &seen[2..11];
    let kinds: Vec<(&str, &str, Option<&str>)> = applied[..8]
        .iter()
        .map(|s| (s.body["kind"].as_str().unwrap(), s.body["metadata"]["name"].as_str().unwrap(), s.body["metadata"]["namespace"].as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Namespace", "mq-gala", None),
            ("ServiceAccount", "seller", Some("mq-gala")),
            ("RoleBinding", "seller", Some("mq-gala")),
            ("RoleBinding", "marquee-seller-token", Some("mq-gala")),
            ("NetworkPolicy", "isolate", Some("mq-gala")),
            ("Service", "runtime", Some("mq-gala")),
            ("ReferenceGrant", "gala", Some("marquee-system")),
            ("HTTPRoute", "performance", Some("mq-gala")),
        ]
    );
    for s in &seen[1..10] {
        let owner = &s.body["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str(), owner["uid"].as_str(), owner["controller"].as_bool()),
            (Some("Performance"), Some("gala"), Some(UID), Some(true))
        );
        assert_eq!(s.body["metadata"]["labels"]["marquee.dev/performance"], "gala");
    }
    // The seller's account is bound, in its namespace only, to the base's read-only role; the
    // control plane may ask a token for that one account, in that namespace only.
    assert_eq!(applied[2].body["roleRef"], json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "marquee-seller"}));
    assert_eq!(applied[2].body["subjects"], json!([{"kind": "ServiceAccount", "name": "seller", "namespace": "mq-gala"}]));
    assert_eq!(applied[3].body["roleRef"]["name"], "marquee-seller-token");
    assert_eq!(applied[3].body["subjects"], json!([{"kind": "ServiceAccount", "name": "marquee-control", "namespace": "marquee-system"}]));
    // Other namespaces are kept out; the platform's, the Gateway's proxies' and its own pods come in.
    let peers = &applied[4].body["spec"]["ingress"][0]["from"];
    assert_eq!(
        peers,
        &json!([
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "marquee-system"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}},
            {"podSelector": {}}
        ])
    );
    assert_eq!(applied[6].body["spec"]["from"], json!([{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "mq-gala"}]));
    let rule = &applied[7].body["spec"]["rules"][0];
    assert_eq!(rule["matches"][0]["path"], json!({"type": "PathPrefix", "value": "/p/gala/"}));
    assert_eq!(rule["backendRefs"], json!([{"name": "marquee-runtime", "namespace": "marquee-system", "port": 8080}]));
    assert_eq!(applied[7].body["spec"]["parentRefs"][0]["name"], "marquee");

    let status = &applied[8].body["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["backend"], "pool");
    assert_eq!(status["serving"], json!(["pool-7f9c-1"]));
    for (kind, reason) in [("Accepted", "Applied"), ("Routed", "Pool"), ("Ready", "Serving")] {
        let c = condition(status, kind);
        assert_eq!((c["status"].as_str(), c["reason"].as_str(), c["observedGeneration"].as_i64()), (Some("True"), Some(reason), Some(1)), "{kind}");
    }
}

#[tokio::test]
async fn a_spec_change_is_not_ready_until_a_runtime_serves_the_new_digest() {
    let reports = serving_gala();
    let (client, server) = api_server(shared("gala"));
    let first = performance("gala", Placement::Shared, 1);
    reconcile::reconcile(Arc::new(first.clone()), context(client, reports.clone())).await.unwrap();
    let before = server.await.unwrap().pop().unwrap();

    let mut changed = with_status(performance("gala", Placement::Shared, 2), &before.body);
    changed.spec.digest = NEW_DIGEST.into();
    let run = |perf: Performance| {
        let reports = reports.clone();
        async move {
            let (client, server) = api_server(shared("gala"));
            let action = reconcile::reconcile(Arc::new(perf), context(client, reports)).await.unwrap();
            (action, server.await.unwrap().pop().unwrap().body)
        }
    };
    let (action, after) = run(changed.clone()).await;
    assert_eq!(action, Action::requeue(WAIT_FOR_SERVING));
    let ready = condition(&after["status"], "Ready");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str(), ready["observedGeneration"].as_i64()), (Some("False"), Some("NotServing"), Some(2)));
    assert_eq!(after["status"]["serving"], json!([]));
    // Routed did not change, so it keeps the time it became true.
    let routed_then = condition(&before.body["status"], "Routed")["lastTransitionTime"].clone();
    assert_eq!(condition(&after["status"], "Routed")["lastTransitionTime"], routed_then);

    reports.serves("gala", NEW_DIGEST, "pool-7f9c-2");
    let (action, settled) = run(with_status(changed, &after)).await;
    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(condition(&settled["status"], "Ready")["status"], "True");
    assert_eq!(settled["status"]["serving"], json!(["pool-7f9c-2"]));
}

/// The dedicated runtime's objects and the Deployment's status in the apply's answer.
fn dedicated_script(deployment_status: Value) -> Vec<Step> {
    let mut script = objects("gala");
    script.push(apply("/api/v1/namespaces/mq-gala/secrets/runtime-store"));
    script.push(step(
        Method::PATCH,
        format!("/apis/apps/v1/namespaces/mq-gala/deployments/runtime{APPLY}"),
        Answer::EchoWithStatus(deployment_status),
    ));
    script.push(route("gala"));
    script.push(status_write("gala"));
    script
}

#[tokio::test]
async fn a_dedicated_performance_moves_to_its_pods_once_ready_and_back_to_the_pool_when_they_fail() {
    let reports = serving_gala();
    let run = |perf: Performance, deployment_status: Value| {
        let reports = reports.clone();
        async move {
            let (client, server) = api_server(dedicated_script(deployment_status));
            reconcile::reconcile(Arc::new(perf), context(client, reports)).await.unwrap();
            server.await.unwrap()
        }
    };
    let perf = performance("gala", Placement::Dedicated, 1);

    // Pods starting: the pool keeps serving it.
    let seen = run(perf.clone(), json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0})).await;
    let secret = &seen[8].body;
    // The store's short name resolves only in the platform's namespace: qualified.
    assert_eq!(secret["stringData"]["store"], "redis://marquee-redis.marquee-system.svc:6379");
    // Prometheus's token reaches it as it reaches the pool, never in the pod spec.
    assert_eq!(secret["stringData"]["metrics-token"], "scrape-token");
    let deployment = &seen[9].body;
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], json!(["runtime", "--listen", "0.0.0.0:8080", "--only", "gala"]));
    assert_eq!(container["resources"]["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
    assert_eq!(container["env"][0]["valueFrom"]["secretKeyRef"], json!({"name": "runtime-store", "key": "store"}));
    // It reads the real client from the Gateway's proxies, as the pool does.
    assert_eq!(container["env"][2], json!({"name": "MARQUEE_TRUSTED_PROXIES", "value": "10.96.0.0/12"}));
    assert_eq!(container["env"][3], json!({"name": "MARQUEE_METRICS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "runtime-store", "key": "metrics-token"}}}));
    assert!(!deployment.to_string().contains("scrape-token"));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // Liveness waits for the start; the pod keeps serving a while after it is marked for removal.
    assert_eq!((container["startupProbe"]["httpGet"]["path"].as_str(), container["startupProbe"]["failureThreshold"].as_i64()), (Some("/healthz"), Some(150)));
    assert_eq!(container["lifecycle"]["preStop"], json!({"sleep": {"seconds": 10}}));
    // A read-only root file system: the runtime's data dir is a volume of its own.
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["volumeMounts"], json!([{"name": "data", "mountPath": "/var/lib/marquee"}]));
    assert_eq!(deployment["spec"]["template"]["spec"]["volumes"], json!([{"name": "data", "emptyDir": {}}]));
    assert_eq!(seen[10].body["spec"]["rules"][0]["backendRefs"][0]["name"], "marquee-runtime");
    let status = &seen[11].body["status"];
    assert_eq!((status["backend"].as_str(), status["dedicatedReady"].as_i64()), (Some("pool"), Some(0)));
    assert_eq!(condition(status, "Routed")["reason"], "Pool");

    // Its pods are Ready: the route moves to them, with no namespace on the backend.
    let perf = with_status(perf, &seen[11].body);
    reports.serves("gala", DIGEST, "gala-runtime-1");
    let seen = run(perf.clone(), json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2})).await;
    assert_eq!(seen[10].body["spec"]["rules"][0]["backendRefs"], json!([{"name": "runtime", "port": 8080}]));
    let status = &seen[11].body["status"];
    assert_eq!((status["backend"].as_str(), status["dedicatedReady"].as_i64()), (Some("dedicated"), Some(2)));
    assert_eq!(condition(status, "Routed")["reason"], "Dedicated");
    assert_eq!(condition(status, "Ready")["status"], "True");

    // They fail: back to the pool.
    let perf = with_status(perf, &seen[11].body);
    let seen = run(perf, json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0})).await;
    assert_eq!(seen[10].body["spec"]["rules"][0]["backendRefs"][0]["name"], "marquee-runtime");
    assert_eq!(seen[11].body["status"]["backend"], "pool");

    // A rollout the Deployment has not observed yet does not count as Ready pods.
    let seen = run(performance("gala", Placement::Dedicated, 1), json!({"observedGeneration": 0, "readyReplicas": 2, "updatedReplicas": 2})).await;
    assert_eq!(seen[11].body["status"]["backend"], "pool");
}

#[tokio::test]
async fn going_back_to_shared_removes_the_dedicated_runtime() {
    let mut perf = performance("gala", Placement::Shared, 3);
    perf.status = Some(PerformanceStatus { dedicated_ready: Some(2), backend: Some(Backend::Dedicated), ..PerformanceStatus::default() });
    let mut script = objects("gala");
    script.push(step(Method::DELETE, "/apis/apps/v1/namespaces/mq-gala/deployments/runtime?", Answer::Json(gone("Deployment", "apps/v1"))));
    script.push(step(Method::DELETE, "/api/v1/namespaces/mq-gala/secrets/runtime-store?", Answer::Error(404, "NotFound")));
    script.push(route("gala"));
    script.push(status_write("gala"));
    let (client, server) = api_server(script);
    reconcile::reconcile(Arc::new(perf), context(client, Arc::default())).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen[8].body["propagationPolicy"], "Background");
    let status = &seen[11].body["status"];
    assert_eq!(status["backend"], "pool");
    assert!(status.get("dedicatedReady").is_none(), "{status}");
    assert_eq!(condition(status, "Ready")["status"], "False");
}

/// A Performance on its way out.
fn deleted(name: &str) -> Performance {
    let mut perf = performance(name, Placement::Shared, 1);
    perf.meta_mut().deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()));
    perf
}

fn finalizer_removed(name: &str) -> Step {
    step(Method::PATCH, format!("/apis/marquee.dev/v1alpha1/performances/{name}?"), Answer::Json(serde_json::to_value(performance(name, Placement::Shared, 1)).unwrap()))
}

#[tokio::test]
async fn delete_removes_the_namespace_it_made_then_lets_the_object_go() {
    let (client, server) = api_server(vec![
        step(Method::DELETE, "/apis/gateway.networking.k8s.io/v1/namespaces/marquee-system/referencegrants/gala?", Answer::Json(gone("ReferenceGrant", "gateway.networking.k8s.io/v1"))),
        step(Method::GET, "/api/v1/namespaces/mq-gala", Answer::Json(namespace_made_by("gala", UID))),
        step(Method::DELETE, "/api/v1/namespaces/mq-gala?", Answer::Json(gone("Namespace", "v1"))),
        finalizer_removed("gala"),
    ]);
    let action = reconcile::reconcile(Arc::new(deleted("gala")), context(client, Arc::default())).await.unwrap();
    assert_eq!(action, Action::await_change());
    let seen = server.await.unwrap();
    // Only that namespace: one made again since (another uid) would refuse the delete.
    assert_eq!(seen[2].body["preconditions"], json!({"uid": "ns-uid-1"}));
    let patch = seen[3].body.as_array().unwrap();
    assert!(patch.iter().any(|op| op["op"] == "remove" && op["path"] == "/metadata/finalizers/0"), "{patch:?}");
}

#[tokio::test]
async fn delete_leaves_a_namespace_the_performance_did_not_make() {
    for existing in [Answer::Json(namespace_made_by("gala", "someone-else")), Answer::Error(404, "NotFound")] {
        let (client, server) = api_server(vec![
            step(Method::DELETE, "/apis/gateway.networking.k8s.io/v1/namespaces/marquee-system/referencegrants/gala?", Answer::Error(404, "NotFound")),
            step(Method::GET, "/api/v1/namespaces/mq-gala", existing),
            finalizer_removed("gala"),
        ]);
        reconcile::reconcile(Arc::new(deleted("gala")), context(client, Arc::default())).await.unwrap();
        assert_eq!(server.await.unwrap().len(), 3, "no DELETE of the namespace");
    }
}

#[tokio::test]
async fn a_namespace_that_exists_without_the_performance_s_uid_is_refused_and_nothing_is_written() {
    let outsider = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mq-gala", "uid": "theirs", "labels": {"team": "payments"}}});
    for existing in [outsider, namespace_made_by("gala", "an-earlier-gala")] {
        let (client, server) = api_server(vec![step(Method::GET, "/api/v1/namespaces/mq-gala", Answer::Json(existing)), status_write("gala")]);
        let action = reconcile::reconcile(Arc::new(performance("gala", Placement::Shared, 1)), context(client, Arc::default())).await.unwrap();
        // It looks again later: the namespace may be on its way out.
        assert_eq!(action, Action::requeue(RESYNC));
        let seen = server.await.unwrap();
        let status = &seen[1].body["status"];
        let accepted = condition(status, "Accepted");
        assert_eq!((accepted["status"].as_str(), accepted["reason"].as_str()), (Some("False"), Some("NamespaceTaken")));
        assert!(accepted["message"].as_str().unwrap().contains("mq-gala"), "{accepted}");
        assert_eq!(condition(status, "Ready")["status"], "False");
    }
}

#[tokio::test]
async fn a_namespace_made_meanwhile_by_someone_else_fails_the_create_and_is_judged_on_the_retry() {
    let (client, server) = api_server(vec![
        step(Method::GET, "/api/v1/namespaces/mq-gala", Answer::Error(404, "NotFound")),
        step(Method::POST, "/api/v1/namespaces?&fieldManager=marquee-operator", Answer::Error(409, "AlreadyExists")),
    ]);
    let ctx = context(client, Arc::default());
    let perf = Arc::new(performance("gala", Placement::Shared, 1));
    let error = reconcile::reconcile(perf.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(reconcile::error_policy(perf, &error, ctx), Action::requeue(RETRY));
    assert_eq!(server.await.unwrap().len(), 2, "nothing applied");
}

#[tokio::test]
async fn a_conflict_on_apply_fails_the_run_and_is_retried_without_a_status() {
    let mut script = objects("gala");
    script.truncate(1);
    script.push(step(Method::PATCH, format!("/api/v1/namespaces/mq-gala{APPLY}"), Answer::Error(409, "Conflict")));
    let (client, server) = api_server(script);
    let ctx = context(client, Arc::default());
    let perf = Arc::new(performance("gala", Placement::Shared, 1));
    let error = reconcile::reconcile(perf.clone(), ctx.clone()).await.unwrap_err();
    assert!(error.to_string().contains("Conflict"), "{error}");
    assert_eq!(reconcile::error_policy(perf, &error, ctx), Action::requeue(RETRY));
    // Nothing after the refused apply: no status claims what was not applied.
    assert_eq!(server.await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_api_error_midway_is_retried_and_the_retry_finishes() {
    let reports = serving_gala();
    let mut script = objects("gala");
    script.truncate(3);
    script.push(step(Method::PATCH, format!("/apis/rbac.authorization.k8s.io/v1/namespaces/mq-gala/rolebindings/seller{APPLY}"), Answer::Error(500, "InternalError")));
    let (client, server) = api_server(script);
    let perf = Arc::new(performance("gala", Placement::Shared, 1));
    let ctx = context(client, reports.clone());
    let error = reconcile::reconcile(perf.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(reconcile::error_policy(perf.clone(), &error, ctx), Action::requeue(RETRY));
    assert_eq!(server.await.unwrap().len(), 4);

    let (client, server) = api_server(shared("gala"));
    assert_eq!(reconcile::reconcile(perf, context(client, reports)).await.unwrap(), Action::requeue(RESYNC));
    assert_eq!(condition(&server.await.unwrap()[9].body["status"], "Ready")["status"], "True");
}

#[tokio::test]
async fn a_reserved_or_too_long_namespace_is_not_accepted_and_nothing_is_applied() {
    let long = "a".repeat(61);
    for (prefix, name) in [("", "kube-system"), ("", "default"), ("", "marquee-system"), ("mq-", long.as_str())] {
        let (client, server) = api_server(vec![status_write(name)]);
        let mut ctx = Context { client, platform: platform(), serving: Arc::new(Reports::default()) };
        ctx.platform.namespace_prefix = prefix.into();
        let action = reconcile::reconcile(Arc::new(performance(name, Placement::Shared, 1)), Arc::new(ctx)).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        let status = &server.await.unwrap()[0].body["status"];
        let accepted = condition(status, "Accepted");
        assert_eq!((accepted["status"].as_str(), accepted["reason"].as_str()), (Some("False"), Some("ReservedName")), "{prefix}{name}");
    }
}

#[tokio::test]
async fn routed_is_what_the_gateway_says_of_the_route() {
    let cases = [
        (json!(null), "Pending"),
        (route_status(("False", "NotAllowedByListeners"), ("True", "ResolvedRefs")), "NotAllowedByListeners"),
        (route_status(("True", "Accepted"), ("False", "RefNotPermitted")), "RefNotPermitted"),
        (json!({"parents": []}), "Pending"),
    ];
    for (route_status, reason) in cases {
        let mut script = shared("gala");
        let last = script.len() - 2;
        script[last] = route_answered("gala", route_status);
        let (client, server) = api_server(script);
        let action = reconcile::reconcile(Arc::new(performance("gala", Placement::Shared, 1)), context(client, serving_gala())).await.unwrap();
        // Looked at again soon: the Gateway may take it up.
        assert_eq!(action, Action::requeue(WAIT_FOR_SERVING), "{reason}");
        let status = &server.await.unwrap().pop().unwrap().body["status"];
        let routed = condition(status, "Routed");
        assert_eq!((routed["status"].as_str(), routed["reason"].as_str()), (Some("False"), Some(reason)));
        // Serving is the runtimes' word, and they serve it.
        assert_eq!(condition(status, "Ready")["status"], "True");
    }
    // An acceptance of an older spec of the route is not one of this spec.
    let mut stale = route_status(("True", "Accepted"), ("True", "ResolvedRefs"));
    stale["parents"][1]["conditions"][0]["observedGeneration"] = json!(0);
    let mut script = shared("gala");
    let last = script.len() - 2;
    script[last] = route_answered("gala", stale);
    let (client, server) = api_server(script);
    reconcile::reconcile(Arc::new(performance("gala", Placement::Shared, 1)), context(client, serving_gala())).await.unwrap();
    assert_eq!(condition(&server.await.unwrap().pop().unwrap().body["status"], "Routed")["reason"], "Pending");
}
