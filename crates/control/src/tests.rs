//! The control plane's router without a socket (axum's `oneshot`): its permission matrix and
//! how it refuses bad input, over a platform on a temp dir with the embedded store and a pool
//! that holds no component.

use std::path::PathBuf;

use axum::body::Body;
use marquee_deployments::{Part, Settings};
use marquee_host::Pool;
use marquee_store::Account;
use tower::ServiceExt;

use super::*;

struct Platform {
    app: Arc<App>,
    dir: PathBuf,
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn platform() -> Platform {
    let dir = std::env::temp_dir().join(format!("marquee-control-{}", auth::random_hex(6)));
    let settings = Settings {
        data_dir: dir.clone(),
        request_timeout: Duration::from_secs(5),
        rates: None,
        history_interval: Duration::from_secs(1),
        console_dir: dir.join("console"),
        connections_per_address: 64,
        header_timeout: Duration::from_secs(5),
        trusted_proxies: marquee_limits::TrustedProxies(Vec::new()),
        metrics_token: None,
        part: Part::All,
        public_url: None,
        mail_relay: false,
    };
    let open = move || App::open(settings, marquee_store_embedded::open, |data| Pool::start(&data.join("components"), &[]));
    let app = tokio::task::spawn_blocking(open).await.unwrap().unwrap();
    Platform { app, dir }
}

/// An access token of a new account with `role`.
async fn token(app: &App, role: Role) -> String {
    let id = auth::random_hex(8);
    let account = Account { email: format!("{id}@example.test"), id, password_hash: String::new(), role, must_change_password: false };
    assert!(app.shared.auth.identity().insert_account(&account, 0).await.unwrap());
    app.shared.auth.access_token(&account, None).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

async fn call(app: &Arc<App>, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
    let response = router(app.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_call_admits_the_roles_it_names_and_no_other() {
    let platform = platform().await;
    let app = &platform.app;
    let (buyer, seller, admin) = (token(app, Role::Buyer).await, token(app, Role::Seller).await, token(app, Role::Admin).await);
    let deploy = r#"{"namespace": "Bad!", "template": "seated"}"#;
    // (method, path, body) -> the status for nobody, a buyer, a seller and an admin.
    let matrix: &[(&str, &str, Option<&str>, [u16; 4])] = &[
        ("GET", "/api/v1/templates", None, [200, 200, 200, 200]),
        ("POST", "/api/v1/templates", Some("{}"), [401, 403, 403, 400]),
        ("DELETE", "/api/v1/templates/seated", None, [401, 403, 403, 409]),
        ("POST", "/api/v1/performances", Some(deploy), [401, 403, 400, 400]),
        ("GET", "/api/v1/performances", None, [401, 403, 200, 200]),
        ("GET", "/api/v1/performances/nothing", None, [401, 404, 404, 404]),
        ("POST", "/api/v1/admin/token-keys/rotate", None, [401, 403, 403, 200]),
        ("GET", "/api/v1/orders", None, [401, 200, 403, 403]),
        ("GET", "/api/v1/components", None, [401, 403, 200, 200]),
        ("POST", "/api/v1/auth/namespace-token", Some(r#"{"namespace": "nothing"}"#), [401, 404, 404, 404]),
    ];
    for (method, path, body, expected) in matrix {
        for (who, token) in [None, Some(&buyer), Some(&seller), Some(&admin)].into_iter().enumerate() {
            let answer = call(app, method, path, token.map(String::as_str), *body).await;
            assert_eq!(answer.status.as_u16(), expected[who], "{method} {path} as caller {who}: {}", answer.body);
            if !answer.status.is_success() {
                assert!(answer.body["error"].is_string() && answer.body["message"].is_string(), "{method} {path}: {}", answer.body);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_deploy_is_a_4xx_naming_its_fault_and_leaves_nothing() {
    let platform = platform().await;
    let app = &platform.app;
    let seller = token(app, Role::Seller).await;
    let deploy = |body: &'static str| call(app, "POST", "/api/v1/performances", Some(&seller), Some(body));
    for (body, code, field) in [
        (r#"{"template": "seated"}"#, "invalid_namespace", "namespace"),
        (r#"{"namespace": "gala", "template": "nope"}"#, "unknown_template", "template"),
        (r#"{"namespace": "gala", "template": "seated", "extra": 1}"#, "invalid_request", "extra"),
        (r#"{"namespace": "gala", "template": "seated", "params": {"title": 1}}"#, "invalid_params", "params.title"),
    ] {
        let answer = deploy(body).await;
        assert_eq!((answer.status, answer.body["error"].as_str(), answer.body["field"].as_str()), (StatusCode::BAD_REQUEST, Some(code), Some(field)), "{body}");
    }
    assert_eq!(deploy("{").await.body["error"], "invalid_json");
    assert_eq!(deploy(r#"["gala", "seated"]"#).await.body["error"], "invalid_request");
    let answer = call(app, "GET", "/api/v1/performances", Some(&seller), None).await;
    assert_eq!(answer.body, json!([]));
    assert!(app.registry.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn what_no_route_answers_has_the_error_shape() {
    let platform = platform().await;
    let app = &platform.app;
    let answer = call(app, "GET", "/api/v1/nowhere", None, None).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let answer = call(app, "DELETE", "/api/v1/templates", None, None).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    assert!(answer.headers.get(http::header::ALLOW).is_some());
    let request = http::Request::post("/api/v1/auth/login").header(http::header::CONTENT_TYPE, "text/plain").body(Body::from("x")).unwrap();
    let response = router(app.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str, code: Code) -> ApiError {
    parse_request::<T>(&Bytes::from(body.to_owned()), code).unwrap_err()
}

#[test]
fn a_typed_request_names_the_field_at_fault() {
    let e = refusal::<DeployRequest>(r#"{"namespace": "a", "template": "seated", "extra": 1}"#, Code::InvalidRequest);
    assert_eq!((e.code, e.field.as_deref()), (Code::InvalidRequest, Some("extra")));
    let e = refusal::<DeployRequest>(r#"{"namespace": 7}"#, Code::InvalidRequest);
    assert_eq!(e.field.as_deref(), Some("namespace"));
    let e = refusal::<PatchRequest>(r#"{"components": {"booking": 3}}"#, Code::InvalidRequest);
    assert_eq!(e.field.as_deref(), Some("components.booking"));
    let e = refusal::<PatchRequest>(r#"{"params": null}"#, Code::InvalidRequest);
    assert_eq!(e.field.as_deref(), Some("params"));
    let e = refusal::<DeployRequest>(r#"["a", "seated"]"#, Code::InvalidRequest);
    assert_eq!((e.status, e.message.as_str()), (StatusCode::BAD_REQUEST, "the body must be a JSON object"));
    assert_eq!(refusal::<DeployRequest>("{", Code::InvalidRequest).code, Code::InvalidJson);
}

#[test]
fn a_template_names_the_field_at_fault_inside_it() {
    let template = r#"{"name": "t", "title": "T", "description": "", "seating": "general", "components": {}, "routes": [],
        "defaults": {}, "params": {}, "runtime": {"replicas": 1, "cpu": "1", "memory": "1Gi", "disk": "1Gi"}}"#;
    let e = refusal::<Template>(template, Code::InvalidTemplate);
    assert_eq!((e.code, e.field.as_deref()), (Code::InvalidTemplate, Some("runtime.disk")));
    // A missing namespace is an invalid one (the deploy says so with its own code).
    let request: DeployRequest = parse_request(&Bytes::from_static(br#"{"template": "seated"}"#), Code::InvalidRequest).unwrap();
    assert!(request.namespace.is_empty());
}
