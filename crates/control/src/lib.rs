//! The control plane under `/api/v1`: identity, templates, performances, catalog; and in
//! cluster mode, the mirror of performances into `Performance` objects.
//!
//! This file holds the router, what every call shares (the caller, the body rules, the error
//! answer, the security headers) and the probes; each resource's calls are a module of their
//! own (`accounts`, `templates`, `performances`, `orders`, `door`, `components`, `catalog`).

mod accounts;
mod backup;
mod catalog;
mod cluster;
mod components;
mod desk;
mod door;
mod mail;
mod orders;
mod performances;
mod posters;
mod templates;

pub use cluster::{Cluster, connect as connect_cluster, start_mirror};
pub use mail::start_postman;

use accounts::*;
use backup::*;
use catalog::*;
use components::*;
use desk::*;
use door::*;
use mail::*;
use orders::*;
use performances::*;
use posters::*;
use templates::*;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use marquee_api::{
    Component, DeployRequest, Deployed, LoginRequest, NamespaceTokenRequest, PasswordRequest, PatchRequest, Performance, RefreshRequest,
    SessionMode, SignupRequest, TokenPair,
};
use marquee_ticketing::templates::Template;

use marquee_deployments::Actor;
use marquee_deployments::DeployError;
use marquee_host::App;
use marquee_identity::{self as auth, AuthError, Role};
use marquee_api::{ApiError, BODY_TIMEOUT, Code};
use marquee_limits::{ClientAddr, Limit};
use marquee_host::Namespace;
use marquee_deployments::Components;
use marquee_store::{CheckIn, Entry, OrderStatus, TokenScope};

type AppState = Arc<App>;
type ApiResult<T = Response> = Result<T, Rejected>;

/// The platform's error shape as this router's answer.
#[derive(Debug)]
pub struct Rejected(ApiError);

impl From<ApiError> for Rejected {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<anyhow::Error> for Rejected {
    fn from(e: anyhow::Error) -> Self {
        Self(e.into())
    }
}

/// A refused deploy, patch, take-down or template change in the error shape: its status, its
/// code and the request field at fault.
impl From<DeployError> for Rejected {
    fn from(e: DeployError) -> Self {
        use DeployError as E;
        let e = match e {
            E::Fault(fault) => return fault.into(),
            E::TooMany(wait) => return ApiError::too_many(wait).into(),
            e => e,
        };
        let (status, code, field) = match &e {
            E::InvalidNamespace | E::Reserved { .. } => (StatusCode::BAD_REQUEST, Code::InvalidNamespace, Some("namespace".into())),
            E::NamespaceTaken(_) => (StatusCode::CONFLICT, Code::NamespaceTaken, Some("namespace".into())),
            E::ClusterUnavailable => (StatusCode::SERVICE_UNAVAILABLE, Code::ClusterUnavailable, None),
            E::QuotaExceeded(_) => (StatusCode::FORBIDDEN, Code::QuotaExceeded, None),
            E::UnknownTemplate(_) => (StatusCode::BAD_REQUEST, Code::UnknownTemplate, Some("template".into())),
            E::InvalidParams(f) => (StatusCode::BAD_REQUEST, Code::InvalidParams, Some(f.field.clone())),
            E::InvalidTemplate(f) => (StatusCode::BAD_REQUEST, Code::InvalidTemplate, Some(f.field.clone())),
            E::UnknownComponent { role, .. } => (StatusCode::BAD_REQUEST, Code::UnknownComponent, Some(format!("components.{role}"))),
            E::BuiltinTemplate(_) => (StatusCode::CONFLICT, Code::BuiltinTemplate, Some("name".into())),
            E::TemplateNotFound(_) | E::PerformanceNotFound(_) => (StatusCode::NOT_FOUND, Code::NotFound, None),
            E::TemplateGone(_) => (StatusCode::CONFLICT, Code::TemplateGone, None),
            E::NotPatchable(key) => (StatusCode::BAD_REQUEST, Code::NotPatchable, Some(format!("params.{key}"))),
            E::UnknownFunction(role) => (StatusCode::BAD_REQUEST, Code::UnknownFunction, Some(format!("components.{role}"))),
            E::ComponentNotYours { role, .. } => (StatusCode::FORBIDDEN, Code::ComponentNotYours, Some(format!("components.{role}"))),
            E::HasOrders { .. } => (StatusCode::CONFLICT, Code::HasOrders, None),
            E::PriceLocked(price) => (StatusCode::CONFLICT, Code::PriceLocked, Some(price.field.clone())),
            E::Fault(_) | E::TooMany(_) => unreachable!("answered above"),
        };
        let mut answer = ApiError::new(status, code, e.to_string());
        answer.field = field;
        if let E::HasOrders { orders, .. } = e {
            answer = answer.with("orders", orders.into());
        }
        Self(answer)
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        self.0.response().into_response()
    }
}

const OPENAPI: &str = include_str!("openapi.json");
/// Largest component a seller may upload: a Python one carries CPython and its standard
/// library (about 19 MiB).
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;
/// How long compiling an upload may take before the upload is refused.
const COMPILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The `/api/v1` routes, the console and the OpenAPI document, over a platform.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/namespace-token", post(namespace_token))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/templates", get(templates).post(create_template))
        .route("/api/v1/templates/{name}", get(template).put(update_template).delete(delete_template))
        .route("/api/v1/performances", post(deploy).get(performances))
        .route("/api/v1/performances/{ns}", get(performance).patch(patch).delete(undeploy))
        .route("/api/v1/performances/{ns}/cancel", post(cancel_performance))
        .route("/api/v1/performances/{ns}/sales", get(sales))
        .route("/api/v1/performances/{ns}/orders", get(performance_orders))
        .route("/api/v1/performances/{ns}/orders.csv", get(orders_csv))
        .route("/api/v1/performances/{ns}/attendees.csv", get(attendees_csv))
        .route("/api/v1/performances/{ns}/orders/{order_id}", get(performance_order))
        .route("/api/v1/performances/{ns}/orders/{order_id}/refund", post(refund))
        .route("/api/v1/performances/{ns}/outbox", get(outbox))
        .route("/api/v1/performances/{ns}/mail/{kind}/preview", get(mail_preview))
        .route("/api/v1/performances/{ns}/checkin", post(checkin).get(arrivals))
        .route("/api/v1/performances/{ns}/checkin/undo", post(undo_checkin))
        .route("/api/v1/performances/{ns}/door-tokens", post(issue_door_token))
        .route("/api/v1/performances/{ns}/door-tokens/{id}", axum::routing::delete(revoke_door_token))
        .route("/api/v1/performances/{ns}/metrics", get(performance_metrics))
        .route("/api/v1/performances/{ns}/tokens", post(issue_token))
        .route("/api/v1/performances/{ns}/kubernetes-token", post(kubernetes_token))
        .route("/api/v1/performances/{ns}/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/admin/token-keys/rotate", post(rotate_keys))
        .route("/api/v1/admin/backup", get(backup))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/orders", get(my_orders))
        .route("/api/v1/posters", post(upload_poster).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/api/v1/posters/{digest}", get(poster))
        .route(
            "/api/v1/components",
            post(upload_component).get(components).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(|| async { ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .nest_service("/console", console(&app.settings.console_dir))
        .fallback(|| async { ApiError::not_found("no such endpoint").response() })
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(read_body))
        .layer(axum::middleware::map_response_with_state(SecurityHeaders::new(&app.settings.console_dir), security_headers))
        .with_state(app)
}

/// Serving what this process was started for (see [`App::ready`]): the orchestrator's
/// readiness probe.
async fn readyz(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    if !app.store_up() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::NotReady, "the shared store does not answer").into());
    }
    if !app.ready() {
        let message = "this runtime does not serve every performance it was started for yet";
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::NotReady, message).into());
    }
    Ok(Json(json!({"status": "ready"})))
}

/// Prometheus exposition. Sales series (holds, orders, tickets, cancellations per
/// performance) are for the platform's own scraper (`Authorization: Bearer` with the
/// `--metrics-token`) or an admin; anyone else sees the functions' health only.
async fn metrics(State(app): State<AppState>, headers: http::HeaderMap) -> Response {
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let scraper = match (&app.settings.metrics_token, bearer.and_then(|b| b.strip_prefix("Bearer "))) {
        (Some(expected), Some(given)) => auth::constant_time_eq(expected.as_bytes(), given.trim().as_bytes()),
        _ => false,
    };
    let admin = || app.shared.auth.verify_header(bearer, None, None).is_ok_and(|c| c.role == Role::Admin);
    let text = app.shared.metrics.render(scraper || admin());
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Largest control-plane request body, component uploads aside (they stream under
/// [`MAX_COMPONENT_BYTES`]).
pub const MAX_BODY: usize = 1 << 20;
/// How long an upload's bytes may take to arrive: a component is far larger than a JSON body.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads a request's whole body before any handler runs. A handler that answers without
/// reading it (a 401 before the JSON is parsed, say) would leave it unread, and hyper then
/// closes the connection after the answer, which a client reusing that connection sees as a
/// disconnect. Over [`MAX_BODY`]: 413 in the error shape.
///
/// A body must be JSON: what an HTML form can send cross-site (`text/plain`, a urlencoded
/// or multipart form) is refused, so no other site can log a browser in or act through it.
async fn read_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if ["/api/v1/components", "/api/v1/posters"].contains(&req.uri().path()) {
        // An upload streams into its handler, which may refuse it unread (401, 403): the
        // connection then cannot carry another request, and the client is told so.
        let mut response = next.run(req).await;
        if !response.status().is_success() {
            response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        return response;
    }
    let json = req.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let (parts, body) = req.into_parts();
    let too_large = || ApiError::body_too_large(MAX_BODY);
    match read_bounded(body, MAX_BODY, BODY_TIMEOUT, too_large).await {
        Ok(bytes) if !bytes.is_empty() && !json => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::UnsupportedMediaType, "send the body as Content-Type: application/json")
                .response()
                .into_response()
        }
        Ok(bytes) => next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(e) => {
            // The rest of a body that timed out is still on its way: the connection cannot
            // carry another request.
            let timed_out = e.status == StatusCode::REQUEST_TIMEOUT;
            let mut response = e.response().into_response();
            if timed_out {
                response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Gives the answers the router itself makes (405 with its `Allow`, a body extractor's
/// 415 or 413) the platform's error shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (Code::MethodNotAllowed, "this endpoint does not take this method; see Allow"),
        StatusCode::PAYLOAD_TOO_LARGE => (Code::BodyTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (Code::UnsupportedMediaType, "send the body as application/json"),
        _ => (Code::BadRequest, status.canonical_reason().unwrap_or("bad request")),
    };
    let mut shaped = ApiError::new(status, code, message).response().into_response();
    if let Some(allow) = response.headers().get(http::header::ALLOW) {
        shaped.headers_mut().insert(http::header::ALLOW, allow.clone());
    }
    shaped
}

/// The control plane's and the console's security headers.
#[derive(Clone)]
struct SecurityHeaders {
    /// The console's policy: its own scripts only (the inline import map by its hash).
    console_csp: http::HeaderValue,
}

impl SecurityHeaders {
    fn new(console_dir: &std::path::Path) -> Self {
        let page = std::fs::read_to_string(console_dir.join("index.html")).unwrap_or_default();
        let hashes: String = inline_scripts(&page).map(|script| format!(" 'sha256-{}'", sha256_base64(script))).collect();
        // 'wasm-unsafe-eval' lets the door screen compile its QR decoder (WebAssembly it
        // serves itself); it allows no eval of JavaScript.
        let csp = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        Self { console_csp: http::HeaderValue::try_from(csp).expect("the policy is ASCII") }
    }
}

/// The contents of a page's inline `<script>` elements.
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    page.split("<script").skip(1).filter_map(|rest| {
        let (open, rest) = rest.split_once('>')?;
        (!open.contains("src=")).then(|| rest.split_once("</script>").map(|(body, _)| body)).flatten()
    })
}

fn sha256_base64(text: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn security_headers(State(policy): State<SecurityHeaders>, uri: http::Uri, mut response: Response) -> Response {
    use http::header;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, http::HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, http::HeaderValue::from_static("no-referrer"));
    if uri.path().starts_with("/console") {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy.console_csp.clone());
        if uri.path().starts_with("/console/modules/") {
            // Performances' sandboxed pages (no origin of their own) import the shared UI
            // module; it holds no session and reads nothing.
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, http::HeaderValue::from_static("*"));
        }
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, http::HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    }
    if uri.path().starts_with("/api/") {
        // Answers carry tokens (log-in, deploy and namespace tokens) or one caller's data:
        // never kept, by the browser or anything between (a poster says it may be).
        headers.entry(header::CACHE_CONTROL).or_insert(http::HeaderValue::from_static("no-store"));
    }
    response
}

/// Parses a JSON body into `T`, answering 400 with the reason otherwise.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(Code::InvalidJson, format!("request body: {e}")))
}

/// A field that may be left out but, when sent, is a `T` (`null` is no way to leave it out).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Parses a JSON body into the request `T`, answering 400 `code` naming the field at fault
/// (an unknown one included) otherwise. Only an object is a request (serde would read a
/// struct from an array too).
fn parse_request<T: DeserializeOwned>(body: &Bytes, code: Code) -> Result<T, ApiError> {
    let value: Value = parse(body)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(code, "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_request(code, e.into_inner().to_string()).field(field)
    })
}

/// The authenticated caller of a control-plane call.
pub enum Caller {
    /// An account, by its verified access token.
    Account(auth::Claims),
    /// A deploy token: it reads and patches the one deployment it names, as its owner,
    /// and acts for no account.
    NamespaceToken {
        /// The deployment it works on.
        deployment: String,
    },
    /// A door token: it checks tickets in at the one deployment it names, and nothing else.
    Door {
        /// The deployment whose door it keeps.
        deployment: String,
    },
}

impl Caller {
    fn is_admin(&self) -> bool {
        matches!(self, Caller::Account(claims) if claims.role == Role::Admin)
    }

    /// The caller's account, or 403 for a namespace token.
    fn account(&self) -> ApiResult<&auth::Claims> {
        match self {
            Caller::Account(claims) => Ok(claims),
            Caller::NamespaceToken { .. } | Caller::Door { .. } => Err(ApiError::forbidden("a namespace token cannot act for an account").into()),
        }
    }

    /// The caller's account if it has one of `roles`, else 403.
    fn require_role(&self, roles: &[Role]) -> ApiResult<&auth::Claims> {
        match self {
            Caller::Account(claims) if roles.contains(&claims.role) => Ok(claims),
            _ => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                Err(ApiError::forbidden(format!("this call needs one of the roles {names:?}")).into())
            }
        }
    }

    /// An account as the deployments see who asks for a change.
    fn actor(claims: &auth::Claims) -> Actor<'_> {
        Actor { id: &claims.sub, admin: claims.role == Role::Admin }
    }

    /// Who a change to `ns` is made by: the account, or the owner for the owner's namespace token.
    fn actor_on<'a>(&'a self, ns: &'a Namespace) -> Actor<'a> {
        match self {
            Caller::Account(claims) => Self::actor(claims),
            Caller::NamespaceToken { .. } | Caller::Door { .. } => Actor { id: &ns.owner, admin: false },
        }
    }

    /// Owner or admin may manage a performance; anyone else gets 403.
    fn may_own(&self, ns: &Namespace) -> ApiResult<()> {
        match self {
            Caller::Account(claims) if claims.role == Role::Admin || claims.sub == ns.owner => Ok(()),
            _ => Err(ApiError::forbidden("only the owner or an admin may manage this performance").into()),
        }
    }

    /// Reading and patching also admit the performance's own deploy tokens.
    fn may_update(&self, ns: &Namespace) -> ApiResult<()> {
        match self {
            Caller::NamespaceToken { deployment } if *deployment == ns.deployment => Ok(()),
            _ => self.may_own(ns),
        }
    }

    /// The door (checking tickets in, undoing a scan, counting arrivals) also admits the
    /// performance's own door tokens.
    fn may_keep_door(&self, ns: &Namespace) -> ApiResult<()> {
        match self {
            Caller::Door { deployment } if *deployment == ns.deployment => Ok(()),
            _ => self.may_own(ns),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> ApiResult<Self> {
        let header = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).filter(|t| t.starts_with(auth::NAMESPACE_TOKEN_PREFIX)) {
            let t = app
                .shared
                .auth
                .verify_namespace_token(token.trim())
                .await
                .map_err(|_| ApiError::unauthorized("the namespace token is invalid or revoked"))?;
            return Ok(match t.scope {
                TokenScope::Deploy => Caller::NamespaceToken { deployment: t.deployment },
                TokenScope::Door => Caller::Door { deployment: t.deployment },
            });
        }
        let cookies = parts.headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok());
        match app.shared.auth.verify_header(header, auth::cookie(cookies, auth::SIGNATURE_COOKIE), None) {
            Ok(claims) => Ok(Caller::Account(claims)),
            Err(AuthError::Missing) => Err(ApiError::unauthorized("this call needs Authorization: Bearer <access_token>").into()),
            Err(_) => Err(ApiError::unauthorized("the access token is invalid or expired").into()),
        }
    }
}

/// The web console's files; until it is built, a 404 that says how to build it.
fn console(dir: &std::path::Path) -> tower_http::services::ServeDir<tower_http::set_status::SetStatus<axum::routing::MethodRouter>> {
    let missing = format!("the web console is not built: run `npm ci && npm run build` in web/ (looked in {})", dir.display());
    let not_built = get(move || {
        let missing = missing.clone();
        async move { ApiError::not_found(missing).response() }
    });
    tower_http::services::ServeDir::new(dir).not_found_service(not_built)
}

/// Reads a body of at most `limit` bytes. Past that the rest is read and dropped (up to a
/// bound) before the 413, so an HTTP/1 client still sending gets the answer instead of a
/// reset connection.
/// A body that does not arrive within `within` is answered 408.
async fn read_bounded(body: axum::body::Body, limit: usize, within: Duration, too_large: impl FnOnce() -> ApiError) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let drain_limit = 4 * limit;
    let mut body = body;
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(ApiError::bad_request(Code::InvalidBody, "the request body was cut off"));
            };
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= limit {
                    bytes.extend_from_slice(&data);
                } else if seen > drain_limit {
                    break;
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(within, read).await.map_err(|_| ApiError::body_timeout())??;
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests;
