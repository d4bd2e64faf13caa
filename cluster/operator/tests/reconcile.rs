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
        gateway: "marquee".into(),
        pool_service: "marquee-runtime".into(),
        port: 8080,
        image: "marquee:test".into(),
        store: "redis://marquee-redis:6379".into(),
        admit: vec!["envoy-gateway-system".into()],
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
    meta.uid = Some("0d6f5c8e-1111-2222-3333-444455556666".into());
    meta.generation = Some(generation);
    meta.resource_version = Some("7".into());
    meta.finalizers = Some(vec![FINALIZER.into()]);
    perf
}

fn context(client: Client, reports: Arc<Reports>) -> Arc<Context> {
    Arc::new(Context { client, platform: platform(), serving: reports })
}

/// The requests of a performance's objects in the order the reconcile applies them, up to the
/// route.
fn objects(name: &str) -> Vec<Step> {
    vec![
        apply(&format!("/api/v1/namespaces/{name}")),
        apply(&format!("/api/v1/namespaces/{name}/serviceaccounts/seller")),
        apply(&format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/roles/seller")),
        apply(&format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings/seller")),
        apply(&format!("/apis/networking.k8s.io/v1/namespaces/{name}/networkpolicies/isolate")),
        apply(&format!("/api/v1/namespaces/{name}/services/runtime")),
        apply(&format!("/apis/gateway.networking.k8s.io/v1/namespaces/marquee-system/referencegrants/{name}")),
    ]
}

fn route(name: &str) -> Step {
    apply(&format!("/apis/gateway.networking.k8s.io/v1/namespaces/{name}/httproutes/performance"))
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
async fn create_applies_every_object_owned_by_the_performance_and_writes_its_status() {
    let reports = serving_gala();
    let (client, server) = api_server(shared("gala"));
    let action = reconcile::reconcile(Arc::new(performance("gala", Placement::Shared, 1)), context(client, reports)).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    let seen = server.await.unwrap();

    let kinds: Vec<(&str, &str)> = seen[..8].iter().map(|s| (s.body["kind"].as_str().unwrap(), s.body["metadata"]["name"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            ("Namespace", "gala"),
            ("ServiceAccount", "seller"),
            ("Role", "seller"),
            ("RoleBinding", "seller"),
            ("NetworkPolicy", "isolate"),
            ("Service", "runtime"),
            ("ReferenceGrant", "gala"),
            ("HTTPRoute", "performance")
        ]
    );
    for s in &seen[..8] {
        let owner = &s.body["metadata"]["ownerReferences"][0];
        assert_eq!((owner["kind"].as_str(), owner["name"].as_str(), owner["controller"].as_bool()), (Some("Performance"), Some("gala"), Some(true)));
        assert_eq!(s.body["metadata"]["labels"]["marquee.dev/performance"], "gala");
    }
    // The seller's role reaches only its namespace and never Secrets.
    let rules = seen[2].body["rules"].as_array().unwrap();
    assert!(rules.iter().all(|r| !r["resources"].as_array().unwrap().iter().any(|x| x == "secrets")));
    assert_eq!(seen[3].body["subjects"], json!([{"kind": "ServiceAccount", "name": "seller", "namespace": "gala"}]));
    // Other namespaces are kept out; the platform's, the Gateway's proxies' and its own pods come in.
    let peers = &seen[4].body["spec"]["ingress"][0]["from"];
    assert_eq!(
        peers,
        &json!([
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "marquee-system"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}},
            {"podSelector": {}}
        ])
    );
    assert_eq!(seen[6].body["spec"]["from"], json!([{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "gala"}]));
    let rule = &seen[7].body["spec"]["rules"][0];
    assert_eq!(rule["matches"][0]["path"], json!({"type": "PathPrefix", "value": "/p/gala/"}));
    assert_eq!(rule["backendRefs"], json!([{"name": "marquee-runtime", "namespace": "marquee-system", "port": 8080}]));
    assert_eq!(seen[7].body["spec"]["parentRefs"][0]["name"], "marquee");

    let status = &seen[8].body["status"];
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
    script.push(apply("/api/v1/namespaces/gala/secrets/runtime-store"));
    script.push(step(
        Method::PATCH,
        format!("/apis/apps/v1/namespaces/gala/deployments/runtime{APPLY}"),
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
    let secret = &seen[7].body;
    // The store's short name resolves only in the platform's namespace: qualified.
    assert_eq!(secret["stringData"]["store"], "redis://marquee-redis.marquee-system.svc:6379");
    let deployment = &seen[8].body;
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], json!(["runtime", "--listen", "0.0.0.0:8080", "--only", "gala"]));
    assert_eq!(container["resources"]["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
    assert_eq!(container["env"][0]["valueFrom"]["secretKeyRef"], json!({"name": "runtime-store", "key": "store"}));
    // It reads the real client from the Gateway's proxies, as the pool does.
    assert_eq!(container["env"][2], json!({"name": "MARQUEE_TRUSTED_PROXIES", "value": "10.96.0.0/12"}));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // A read-only root file system: the runtime's data dir is a volume of its own.
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["volumeMounts"], json!([{"name": "data", "mountPath": "/var/lib/marquee"}]));
    assert_eq!(deployment["spec"]["template"]["spec"]["volumes"], json!([{"name": "data", "emptyDir": {}}]));
    assert_eq!(seen[9].body["spec"]["rules"][0]["backendRefs"][0]["name"], "marquee-runtime");
    let status = &seen[10].body["status"];
    assert_eq!((status["backend"].as_str(), status["dedicatedReady"].as_i64()), (Some("pool"), Some(0)));
    assert_eq!(condition(status, "Routed")["reason"], "Pool");

    // Its pods are Ready: the route moves to them, with no namespace on the backend.
    let perf = with_status(perf, &seen[10].body);
    reports.serves("gala", DIGEST, "gala-runtime-1");
    let seen = run(perf.clone(), json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2})).await;
    assert_eq!(seen[9].body["spec"]["rules"][0]["backendRefs"], json!([{"name": "runtime", "port": 8080}]));
    let status = &seen[10].body["status"];
    assert_eq!((status["backend"].as_str(), status["dedicatedReady"].as_i64()), (Some("dedicated"), Some(2)));
    assert_eq!(condition(status, "Routed")["reason"], "Dedicated");
    assert_eq!(condition(status, "Ready")["status"], "True");

    // They fail: back to the pool.
    let perf = with_status(perf, &seen[10].body);
    let seen = run(perf, json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0})).await;
    assert_eq!(seen[9].body["spec"]["rules"][0]["backendRefs"][0]["name"], "marquee-runtime");
    assert_eq!(seen[10].body["status"]["backend"], "pool");

    // A rollout the Deployment has not observed yet does not count as Ready pods.
    let seen = run(performance("gala", Placement::Dedicated, 1), json!({"observedGeneration": 0, "readyReplicas": 2, "updatedReplicas": 2})).await;
    assert_eq!(seen[10].body["status"]["backend"], "pool");
}

#[tokio::test]
async fn going_back_to_shared_removes_the_dedicated_runtime() {
    let mut perf = performance("gala", Placement::Shared, 3);
    perf.status = Some(PerformanceStatus { dedicated_ready: Some(2), backend: Some(Backend::Dedicated), ..PerformanceStatus::default() });
    let mut script = objects("gala");
    script.push(step(Method::DELETE, "/apis/apps/v1/namespaces/gala/deployments/runtime?", Answer::Json(gone("Deployment", "apps/v1"))));
    script.push(step(Method::DELETE, "/api/v1/namespaces/gala/secrets/runtime-store?", Answer::Error(404, "NotFound")));
    script.push(route("gala"));
    script.push(status_write("gala"));
    let (client, server) = api_server(script);
    reconcile::reconcile(Arc::new(perf), context(client, Arc::default())).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen[7].body["propagationPolicy"], "Background");
    let status = &seen[10].body["status"];
    assert_eq!(status["backend"], "pool");
    assert!(status.get("dedicatedReady").is_none(), "{status}");
    assert_eq!(condition(status, "Ready")["status"], "False");
}

#[tokio::test]
async fn delete_cleans_up_then_lets_the_object_go() {
    let mut perf = performance("gala", Placement::Shared, 1);
    perf.meta_mut().deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()));
    let (client, server) = api_server(vec![
        step(Method::DELETE, "/apis/gateway.networking.k8s.io/v1/namespaces/marquee-system/referencegrants/gala?", Answer::Json(gone("ReferenceGrant", "gateway.networking.k8s.io/v1"))),
        step(Method::DELETE, "/api/v1/namespaces/gala?", Answer::Json(gone("Namespace", "v1"))),
        step(Method::PATCH, "/apis/marquee.dev/v1alpha1/performances/gala?", Answer::Json(serde_json::to_value(performance("gala", Placement::Shared, 1)).unwrap())),
    ]);
    let action = reconcile::reconcile(Arc::new(perf), context(client, Arc::default())).await.unwrap();
    assert_eq!(action, Action::await_change());
    let seen = server.await.unwrap();
    let patch = seen[2].body.as_array().unwrap();
    assert!(patch.iter().any(|op| op["op"] == "remove" && op["path"] == "/metadata/finalizers/0"), "{patch:?}");
}

#[tokio::test]
async fn a_conflict_on_apply_fails_the_run_and_is_retried_without_a_status() {
    let (client, server) = api_server(vec![step(
        Method::PATCH,
        format!("/api/v1/namespaces/gala{APPLY}"),
        Answer::Error(409, "Conflict"),
    )]);
    let ctx = context(client, Arc::default());
    let perf = Arc::new(performance("gala", Placement::Shared, 1));
    let error = reconcile::reconcile(perf.clone(), ctx.clone()).await.unwrap_err();
    assert!(error.to_string().contains("Conflict"), "{error}");
    assert_eq!(reconcile::error_policy(perf, &error, ctx), Action::requeue(RETRY));
    // Nothing after the refused apply: no status claims what was not applied.
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_api_error_midway_is_retried_and_the_retry_finishes() {
    let reports = serving_gala();
    let mut script = objects("gala")[..2].iter().map(|s| step(s.method.clone(), s.uri.clone(), Answer::Echo)).collect::<Vec<_>>();
    script.push(step(Method::PATCH, format!("/apis/rbac.authorization.k8s.io/v1/namespaces/gala/roles/seller{APPLY}"), Answer::Error(500, "InternalError")));
    let (client, server) = api_server(script);
    let perf = Arc::new(performance("gala", Placement::Shared, 1));
    let ctx = context(client, reports.clone());
    let error = reconcile::reconcile(perf.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(reconcile::error_policy(perf.clone(), &error, ctx), Action::requeue(RETRY));
    assert_eq!(server.await.unwrap().len(), 3);

    let (client, server) = api_server(shared("gala"));
    assert_eq!(reconcile::reconcile(perf, context(client, reports)).await.unwrap(), Action::requeue(RESYNC));
    assert_eq!(condition(&server.await.unwrap()[8].body["status"], "Ready")["status"], "True");
}

#[tokio::test]
async fn a_reserved_name_is_not_accepted_and_nothing_is_applied() {
    let (client, server) = api_server(vec![status_write("kube-system")]);
    let action = reconcile::reconcile(Arc::new(performance("kube-system", Placement::Shared, 1)), context(client, Arc::default())).await.unwrap();
    assert_eq!(action, Action::await_change());
    let status = &server.await.unwrap()[0].body["status"];
    let accepted = condition(status, "Accepted");
    assert_eq!((accepted["status"].as_str(), accepted["reason"].as_str()), (Some("False"), Some("ReservedName")));
}
