//! The control plane under `/api/v1`: identity, templates, performances, catalog; and in
//! cluster mode, the mirror of performances into `Performance` objects.

mod cluster;

pub use cluster::{Cluster, connect as connect_cluster, start_mirror};

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

use marquee_deployments::app::Actor;
use marquee_host::App;
use marquee_identity::{self as auth, AuthError, Role};
use marquee_deployments::error::{ApiError, BODY_TIMEOUT};
use marquee_limits::{ClientAddr, Limit};
use marquee_host::Namespace;
use marquee_deployments::components::Components;
use marquee_store::{CheckIn, Entry, OrderStatus};

type AppState = Arc<App>;
type ApiResult<T = Response> = Result<T, Rejected>;

/// The platform's error shape as this router's answer.
#[derive(Debug)]
pub struct Rejected(ApiError);

impl<E: Into<ApiError>> From<E> for Rejected {
    fn from(e: E) -> Self {
        Self(e.into())
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
        .route("/api/v1/performances/{ns}/orders", get(performance_orders))
        .route("/api/v1/performances/{ns}/checkin", post(checkin))
        .route("/api/v1/performances/{ns}/checkin/undo", post(undo_checkin))
        .route("/api/v1/performances/{ns}/metrics", get(performance_metrics))
        .route("/api/v1/performances/{ns}/tokens", post(issue_token))
        .route("/api/v1/performances/{ns}/kubernetes-token", post(kubernetes_token))
        .route("/api/v1/performances/{ns}/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/admin/token-keys/rotate", post(rotate_keys))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/orders", get(my_orders))
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
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the shared store does not answer").into());
    }
    if !app.ready() {
        let message = "this runtime does not serve every performance it was started for yet";
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message).into());
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
    if req.uri().path() == "/api/v1/components" {
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
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as Content-Type: application/json")
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
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this endpoint does not take this method; see Allow"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
        _ => ("bad_request", status.canonical_reason().unwrap_or("bad request")),
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
        let csp = format!(
            "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
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
        // never kept, by the browser or anything between.
        headers.insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
    response
}

/// Parses a JSON body into `T`, answering 400 with the reason otherwise.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("request body: {e}")))
}

/// Parses a JSON body into the request `T`, answering 400 `code` naming the field at fault
/// (an unknown one included) otherwise. Only an object is a request (serde would read a
/// struct from an array too).
fn parse_request<T: DeserializeOwned>(body: &Bytes, code: &'static str) -> Result<T, ApiError> {
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
    /// A namespace token: it reads and patches the one deployment it names, as its owner,
    /// and acts for no account.
    NamespaceToken { deployment: String },
}

impl Caller {
    fn is_admin(&self) -> bool {
        matches!(self, Caller::Account(claims) if claims.role == Role::Admin)
    }

    /// The caller's account, or 403 for a namespace token.
    fn account(&self) -> ApiResult<&auth::Claims> {
        match self {
            Caller::Account(claims) => Ok(claims),
            Caller::NamespaceToken { .. } => Err(ApiError::forbidden("a namespace token cannot act for an account").into()),
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
            Caller::NamespaceToken { .. } => Actor { id: &ns.owner, admin: false },
        }
    }

    /// Owner or admin may manage a performance; anyone else gets 403.
    fn may_own(&self, ns: &Namespace) -> ApiResult<()> {
        match self {
            Caller::Account(claims) if claims.role == Role::Admin || claims.sub == ns.owner => Ok(()),
            _ => Err(ApiError::forbidden("only the owner or an admin may manage this performance").into()),
        }
    }

    /// Reading and patching also admit the performance's own namespace tokens.
    fn may_update(&self, ns: &Namespace) -> ApiResult<()> {
        match self {
            Caller::NamespaceToken { deployment } if *deployment == ns.deployment => Ok(()),
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
            return Ok(Caller::NamespaceToken { deployment: t.deployment });
        }
        let cookies = parts.headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok());
        match app.shared.auth.verify_header(header, auth::cookie(cookies, auth::SIGNATURE_COOKIE), None) {
            Ok(claims) => Ok(Caller::Account(claims)),
            Err(AuthError::Missing) => Err(ApiError::unauthorized("this call needs Authorization: Bearer <access_token>").into()),
            Err(_) => Err(ApiError::unauthorized("the access token is invalid or expired").into()),
        }
    }
}

async fn signup(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    app.limits.check_address(Limit::SignupByAddress, Some(addr.0)).await.map_err(ApiError::too_many)?;
    let req: SignupRequest = parse(&body)?;
    let role = match Role::parse(&req.role) {
        Some(role @ (Role::Buyer | Role::Seller)) => role,
        _ => return Err(ApiError::bad_request("invalid_role", "role must be buyer or seller").field("role").into()),
    };
    let account = app.shared.auth.sign_up(&req.email, req.password, role).await.map_err(|e| match e {
        auth::SignupError::InvalidEmail(m) => ApiError::bad_request("invalid_email", m).field("email"),
        auth::SignupError::WeakPassword(m) => ApiError::bad_request("weak_password", m).field("password"),
        auth::SignupError::EmailTaken => email_taken(),
        auth::SignupError::Internal(e) => ApiError::internal(e),
    })?;
    let view = marquee_api::Account { id: account.id, email: account.email, role: account.role.as_str().to_string() };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn email_taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "email_taken", "an account with this email exists").field("email")
}

/// A token pair as a browser gets it: the page receives only `header.payload` of the access
/// token; the signature and the refresh token travel in HttpOnly cookies.
fn browser_session(pair: TokenPair, secure: bool) -> Response {
    let cookies = auth::session_cookies(&pair, secure);
    let page_part = pair.access_token.rsplit_once('.').map(|(head, _)| head.to_string()).unwrap_or_default();
    let body = json!({
        "access_token": page_part,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "mode": "browser",
    });
    with_cookies(Json(body).into_response(), cookies)
}

fn with_cookies(mut response: Response, cookies: [String; 2]) -> Response {
    for cookie in cookies {
        if let Ok(value) = http::HeaderValue::try_from(cookie) {
            response.headers_mut().append(http::header::SET_COOKIE, value);
        }
    }
    response
}

fn session(app: &App, pair: TokenPair, mode: SessionMode) -> Response {
    match mode {
        SessionMode::Api => Json(pair).into_response(),
        SessionMode::Browser => browser_session(pair, app.secure_cookies()),
    }
}

async fn login(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    let req: LoginRequest = parse(&body)?;
    app.limits.check_login(&req.email.trim().to_ascii_lowercase(), Some(addr.0)).await.map_err(ApiError::too_many)?;
    match app.shared.auth.log_in(&req.email, req.password).await? {
        auth::LogIn::Session(found) => Ok(session(&app, found.1, req.mode)),
        auth::LogIn::MustChangePassword => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "this one-time password must be changed first: POST /api/v1/auth/password",
        ).into()),
        auth::LogIn::Wrong => Err(ApiError::unauthorized("wrong email or password").into()),
    }
}

/// Changes an account's password (the current one proves it is theirs), ends all of its
/// sessions and starts a new one. A credential check: log-in's limits apply.
async fn change_password(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    let req: PasswordRequest = parse(&body)?;
    app.limits.check_login(&req.email.trim().to_ascii_lowercase(), Some(addr.0)).await.map_err(ApiError::too_many)?;
    match app.shared.auth.change_password(&req.email, req.password, req.new_password).await? {
        Ok(pair) => Ok(session(&app, pair, req.mode)),
        Err(auth::PasswordError::Wrong) => Err(ApiError::unauthorized("wrong email or password").into()),
        Err(auth::PasswordError::Weak(reason)) => Err(ApiError::bad_request("weak_password", reason).field("new_password").into()),
    }
}

/// The refresh token of a call: from the body (API clients), or from the refresh cookie
/// (browser sessions, whose body is empty).
fn refresh_token(headers: &http::HeaderMap, body: &Bytes) -> ApiResult<(String, SessionMode)> {
    let cookies = headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok());
    let no_body = body.iter().all(u8::is_ascii_whitespace) || body.as_ref() == b"{}";
    match auth::cookie(cookies, auth::REFRESH_COOKIE).filter(|t| !t.is_empty()) {
        Some(_) if no_body && !same_origin(headers) => {
            Err(ApiError::forbidden("a browser session is renewed or ended only by the platform's own pages").into())
        }
        Some(token) if no_body => Ok((token.to_string(), SessionMode::Browser)),
        None if no_body => Err(ApiError::unauthorized("no refresh token: send {\"refresh_token\"} or the session cookie").into()),
        _ => Ok((parse::<RefreshRequest>(body)?.refresh_token, SessionMode::Api)),
    }
}

/// A token for one performance's pages (`/p/{ns}/…`), for the caller: what the console hands
/// a performance's own page, so that page never holds a platform credential.
async fn namespace_token(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Json<Value>> {
    let claims = caller.account()?;
    let req: NamespaceTokenRequest = parse(&body)?;
    let ns = find(&app, &req.namespace).map_err(|e| e.field("namespace"))?;
    let token = app.shared.auth.namespace_access_token(claims, &ns.deployment)?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": auth::ACCESS_TTL_SECS,
        "namespace": ns.name,
    })))
}

/// Whether a request comes from a page of this origin: its `Origin` names the host it was sent
/// to. A cookie-mode call without one (or from elsewhere) did not come from the console.
fn same_origin(headers: &http::HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    match (value(http::header::ORIGIN), value(http::header::HOST)) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        _ => false,
    }
}

async fn refresh(State(app): State<AppState>, headers: http::HeaderMap, body: Bytes) -> ApiResult {
    let (token, mode) = refresh_token(&headers, &body)?;
    match app.shared.auth.refresh(&token).await? {
        Ok(pair) => Ok(session(&app, pair, mode)),
        Err(AuthError::Reused) => Err(ApiError::unauthorized("refresh token already used; the session is revoked").into()),
        Err(_) => Err(ApiError::unauthorized("invalid or expired refresh token").into()),
    }
}

async fn logout(State(app): State<AppState>, headers: http::HeaderMap, body: Bytes) -> ApiResult {
    let (token, mode) = refresh_token(&headers, &body)?;
    if !app.shared.auth.logout(&token).await? {
        return Err(ApiError::unauthorized("unknown refresh token").into());
    }
    let response = StatusCode::NO_CONTENT.into_response();
    Ok(if mode == SessionMode::Browser { with_cookies(response, auth::clearing_cookies(app.secure_cookies())) } else { response })
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

/// A template as stored: what GET returns, POST and PUT take back.
fn template_view(t: &Template) -> Value {
    serde_json::to_value(t).expect("a template serializes")
}

/// A template as listed: as stored, and whether it is built in (which no one may delete).
fn listed_template(app: &App, t: &Template) -> Value {
    let mut view = template_view(t);
    view["builtin"] = json!(app.templates.is_builtin(&t.name));
    view
}

async fn templates(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    app.sync_templates().await?;
    Ok(Json(Value::Array(app.templates.all().iter().map(|t| listed_template(&app, t)).collect())))
}

async fn template(State(app): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    app.sync_templates().await?;
    let t = app.templates.get(&name).ok_or_else(|| ApiError::not_found(format!("no template named {name:?}")))?;
    Ok(Json(listed_template(&app, &t)))
}

async fn create_template(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require_role(&[Role::Admin])?;
    let template: Template = parse_request(&body, "invalid_template")?;
    let name = &template.name;
    app.sync_templates().await?;
    if app.templates.get(name).is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "template_exists", format!("template {name:?} exists; PUT to change it")).field("name").into());
    }
    let t = app.put_template(None, template).await?;
    Ok((StatusCode::CREATED, Json(template_view(&t))).into_response())
}

async fn update_template(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    caller.require_role(&[Role::Admin])?;
    let template: Template = parse_request(&body, "invalid_template")?;
    Ok(Json(template_view(&app.put_template(Some(&name), template).await?)))
}

async fn delete_template(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    caller.require_role(&[Role::Admin])?;
    app.delete_template(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn performance_view(app: &App, ns: &Namespace) -> Performance {
    Performance {
        namespace: ns.name.clone(),
        status: "ready".into(),
        url: format!("/p/{}/", ns.name),
        public_url: app.public_url(&ns.name),
        template: ns.template.clone(),
        owner: ns.owner.clone(),
        created_at: ns.created_at,
        params: serde_json::to_value(&ns.params).expect("params serialize"),
        components: ns.spec.components.clone(),
        digest: ns.digest().to_owned(),
        switch_ms: None,
    }
}

async fn deploy(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let request: DeployRequest = parse_request(&body, "invalid_request")?;
    let (ns, took) = app.deploy(Caller::actor(account), &request).await?;
    tracing::info!(namespace = %ns.name, template = %ns.template, ms = took.as_secs_f64() * 1e3, "deployed");
    let body = Deployed {
        namespace: ns.name.clone(),
        status: "ready".into(),
        url: format!("/p/{}/", ns.name),
        public_url: app.public_url(&ns.name),
        deploy_ms: took.as_secs_f64() * 1e3,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn performances(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Performance>>> {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let list = app
        .registry
        .all()
        .iter()
        .filter(|ns| caller.is_admin() || ns.owner == account.sub)
        .map(|ns| performance_view(&app, ns))
        .collect();
    Ok(Json(list))
}

fn find(app: &App, name: &str) -> Result<Arc<Namespace>, ApiError> {
    app.registry.get(name).ok_or_else(|| ApiError::not_found(format!("no performance {name:?}")))
}

/// The performance, if the caller owns it (or is an admin).
fn owned(app: &App, caller: &Caller, name: &str) -> ApiResult<Arc<Namespace>> {
    let ns = find(app, name)?;
    caller.may_own(&ns)?;
    Ok(ns)
}

async fn performance(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Performance>> {
    let ns = find(&app, &name)?;
    caller.may_update(&ns)?;
    Ok(Json(performance_view(&app, &ns)))
}

async fn patch(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Performance>> {
    let live = find(&app, &name)?;
    caller.may_update(&live)?;
    let request: PatchRequest = parse_request(&body, "invalid_request")?;
    let (ns, took) = app.patch(caller.actor_on(&live), &name, &request).await?;
    let mut view = performance_view(&app, &ns);
    view.switch_ms = Some(took.as_secs_f64() * 1e3);
    Ok(Json(view))
}

async fn undeploy(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    owned(&app, &caller, &name)?;
    app.undeploy(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Cancels a performance: every confirmed order is refunded and cancelled, then it is
/// archived (its buyers still see their orders).
async fn cancel_performance(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    owned(&app, &caller, &name)?;
    let refunded = app.cancel(&name).await?;
    Ok(Json(json!({ "namespace": name, "status": "cancelled", "refunded_orders": refunded })))
}

/// Milliseconds since the epoch as RFC 3339, as the API shows times.
fn rfc3339_ms(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

/// An entry at the door as the API shows it, with `more` members (`{"status": ...}`) first.
fn entry_view(entry: &Entry, more: Value) -> Value {
    let mut view = more;
    view["checked_in_at"] = json!(rfc3339_ms(entry.at as i64));
    view["door"] = json!(entry.door);
    view
}

/// A stored order as the API shows it; `entries` marks the tickets used at the door.
fn order_view(o: &marquee_store::OrderRow, entries: Option<&std::collections::HashMap<(String, String), Entry>>) -> Value {
    let tickets: Vec<Value> = o
        .tickets
        .iter()
        .map(|t| {
            let ticket = json!({"seat": t.seat, "code": t.code});
            match entries.and_then(|e| e.get(&(o.id.clone(), t.seat.clone()))) {
                Some(entry) => entry_view(entry, ticket),
                None => ticket,
            }
        })
        .collect();
    let mut view = json!({
        "order_id": o.id,
        "session": o.session,
        "amount": o.amount,
        "status": o.status.as_str(),
        "tickets": tickets,
        "created_at": rfc3339_ms(o.created_at as i64),
    });
    if o.status == OrderStatus::Cancelled {
        view["refunded"] = json!(o.amount);
    }
    view
}

/// The performance's orders (owner or admin), with each buyer's email and the tickets used.
async fn performance_orders(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let orders = ns.inventory.all_orders().await?;
    let buyers: std::collections::BTreeSet<&str> = orders.iter().map(|o| o.buyer.as_str()).collect();
    let identity = app.shared.auth.identity();
    let asks: Vec<_> = buyers.iter().map(|id| identity.account_by_id(id)).collect();
    let accounts = marquee_store::a_few_at_a_time(asks).await?;
    let emails: std::collections::HashMap<&str, Option<String>> =
        buyers.into_iter().zip(accounts).map(|(id, account)| (id, account.map(|a| a.email))).collect();
    let entries = ns.inventory.entries().await?;
    let list = orders
        .iter()
        .map(|o| {
            let mut view = order_view(o, Some(&entries));
            view["buyer"] = json!({"id": o.buyer, "email": emails[o.buyer.as_str()]});
            view
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Issues a deploy token bound to this performance, for the owner's CI. Shown once.
async fn issue_token(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let (id, token) = app.shared.auth.issue_namespace_token(&ns.name, &ns.deployment, &caller.account()?.sub).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "namespace": ns.name, "token": token }))).into_response())
}

/// Cluster mode: a short-lived token of the performance's Kubernetes account, whose rights
/// reach only its namespace. The control plane holds the right to ask; the seller never does.
async fn kubernetes_token(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let Some(mirror) = app.mirror.get() else {
        return Err(ApiError::not_found("Kubernetes tokens exist only in cluster mode (marquee control --kube)").into());
    };
    let issued = mirror.seller_token(&ns.name).await.map_err(|e| {
        tracing::error!(namespace = %ns.name, error = format!("{e:#}"), "TokenRequest failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable", "the Kubernetes API did not give a token; try again")
    })?;
    let Some((token, expires_at)) = issued else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_provisioned", "the operator has not made this performance's Kubernetes account yet; try again shortly").into());
    };
    let body = json!({
        "namespace": mirror.namespace_of(&ns.name),
        "service_account": marquee_crd::SELLER_ACCOUNT,
        "token": token,
        "expires_at": expires_at,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn revoke_token(State(app): State<AppState>, caller: Caller, Path((name, id)): Path<(String, String)>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    if !app.shared.catalog.revoke_namespace_token(&ns.deployment, &id).await? {
        return Err(ApiError::not_found("no such live token for this performance").into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts signing with a new key; tokens signed with the previous keys stay valid.
async fn rotate_keys(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_role(&[Role::Admin])?;
    let kid = app.shared.auth.rotate().await?;
    Ok(Json(json!({ "kid": kid })))
}

#[derive(Deserialize)]
struct RangeQuery {
    range: Option<String>,
    step: Option<String>,
}

/// Most points one range query returns, and the longest range it covers.
const MAX_POINTS: u64 = 1000;
const MAX_RANGE: Duration = Duration::from_secs(3600);

/// Per-function rates, percentiles and memory, and sales per section, over time.
async fn performance_metrics(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let ns = find(&app, &name)?;
    caller.may_update(&ns)?;
    let parse = |text: Option<String>, default: &str, field: &'static str| {
        marquee_deployments::history::parse_duration(text.as_deref().unwrap_or(default))
            .ok_or_else(|| ApiError::bad_request("invalid_range", format!("{field} must look like 30s, 15m or 1h")).field(field))
    };
    let (range, step) = (parse(q.range, "15m", "range")?, parse(q.step, "15s", "step")?);
    if range > MAX_RANGE {
        return Err(ApiError::bad_request("invalid_range", "at most 1h of history").field("range").into());
    }
    // A step is a resolution wish: within the range, and coarse enough for MAX_POINTS.
    let step = step.clamp(Duration::from_secs(range.as_secs().div_ceil(MAX_POINTS)).max(Duration::from_secs(1)), range);
    let mut series = app.history.query(&ns.deployment, range, step);
    series["step_seconds"] = json!(step.as_secs());
    Ok(Json(series))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckinRequest {
    order_id: String,
    seat: String,
    code: String,
    /// Which entrance scanned it, if the door says.
    #[serde(default)]
    door: Option<String>,
}

/// Checks a ticket in at the door: a genuine code of a confirmed order admits once; every
/// later scan answers `already_used` with the first entry, until the seller undoes it.
async fn checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let req: CheckinRequest = parse(&body)?;
    if req.door.as_ref().is_some_and(|d| d.chars().count() > 64 || d.chars().any(char::is_control)) {
        return Err(ApiError::bad_request("invalid_door", "door is at most 64 printable characters").field("door").into());
    }
    let unknown = json!({ "valid": false, "status": "unknown" });
    let Some((outcome, entry)) = ns.inventory.check_in(&req.order_id, &req.seat, &req.code, req.door.as_deref()).await? else {
        return Ok(Json(unknown));
    };
    Ok(Json(match outcome {
        CheckIn::Admitted => entry_view(&entry, json!({ "valid": true, "status": "checked_in" })),
        CheckIn::Used(first) => entry_view(&first, json!({ "valid": false, "status": "already_used" })),
        CheckIn::NotConfirmed(status) => json!({ "valid": false, "status": status.as_str() }),
        CheckIn::NotFound => unknown,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UndoCheckinRequest {
    order_id: String,
    seat: String,
}

/// Undoes a mistaken scan, so the ticket admits again (owner or admin).
async fn undo_checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let req: UndoCheckinRequest = parse(&body)?;
    if !ns.inventory.has_ticket(&req.order_id, &req.seat).await? {
        return Err(ApiError::not_found("no such ticket in this performance").into());
    }
    match ns.inventory.undo_check_in(&req.order_id, &req.seat).await? {
        Some(entry) => Ok(Json(entry_view(&entry, json!({ "status": "undone" })))),
        None => Err(ApiError::new(StatusCode::CONFLICT, "not_checked_in", "this ticket has not been checked in").into()),
    }
}

#[derive(Deserialize)]
struct UploadQuery {
    name: Option<String>,
    version: Option<String>,
}

fn component_view(c: &marquee_store::ComponentRow) -> Component {
    Component {
        digest: c.digest.clone(),
        name: c.name.clone(),
        version: c.version.clone(),
        world: Some(c.world.clone()),
        size: Some(c.size as u64),
        owner: c.owner.clone(),
    }
}

/// Uploads a component into the pool (seller, admin): checked and compiled once, off the
/// async workers and under a time limit, stored by digest.
async fn upload_component(
    State(app): State<AppState>,
    caller: Caller,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: axum::body::Body,
) -> ApiResult {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let body = read_component(body).await?;
    let label = |value: Option<String>, field: &'static str| {
        value
            .filter(|v| marquee_api::Identifier::Label.accepts(v))
            .ok_or_else(|| ApiError::bad_request("invalid_component", format!("?{field}= must be 1-64 letters, digits, - _ or .")).field(field))
    };
    let (name, version) = (label(query.name, "name")?, label(query.version, "version")?);
    if body.is_empty() {
        return Err(ApiError::bad_request("invalid_component", "the body must be the component's bytes").into());
    }
    let compiling = {
        let app = app.clone();
        let body = body.clone();
        tokio::task::spawn_blocking(move || app.pool.upload(&body))
    };
    let (loaded, world) = match tokio::time::timeout(COMPILE_TIMEOUT, compiling).await {
        Ok(joined) => joined.map_err(anyhow::Error::from)?.map_err(|e| ApiError::bad_request("invalid_component", e.0))?,
        Err(_) => return Err(ApiError::bad_request("invalid_component", "compiling took too long").into()),
    };
    let row = marquee_store::ComponentRow {
        owner: account.sub.clone(),
        name,
        version,
        digest: loaded.digest.clone(),
        world: world.to_string(),
        size: body.len() as i64,
        created_at: marquee_deployments::clock::now_secs(),
    };
    if !app.shared.catalog.insert_component(&row).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "version_taken", "you already uploaded this name and version").field("version").into());
    }
    app.announce_component(&row.digest, &body).await?;
    Ok((StatusCode::CREATED, Json(component_view(&row))).into_response())
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
                return Err(ApiError::bad_request("invalid_body", "the request body was cut off"));
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

/// Reads an upload of at most [`MAX_COMPONENT_BYTES`].
async fn read_component(body: axum::body::Body) -> Result<Bytes, ApiError> {
    read_bounded(body, MAX_COMPONENT_BYTES, UPLOAD_TIMEOUT, || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("a component may be at most {} MiB", MAX_COMPONENT_BYTES >> 20))
    })
    .await
}

/// The pool as the caller may see it: the built-ins and their own uploads (admin: all).
async fn components(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Component>>> {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let owner = (!caller.is_admin()).then_some(account.sub.as_str());
    let builtin = |(name, digest): (&str, &str)| Component {
        digest: digest.into(),
        name: name.into(),
        version: "builtin".into(),
        world: None,
        size: None,
        owner: "marquee".into(),
    };
    let mut list: Vec<Component> = app.pool.builtins().map(builtin).collect();
    list.extend(app.shared.catalog.components(owner).await?.iter().map(component_view));
    Ok(Json(list))
}

/// The caller's orders in every performance, cancelled ones included, newest first: the
/// console's "my tickets". Cancelling stays with each performance's booking function.
async fn my_orders(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let account = caller.require_role(&[Role::Buyer])?;
    let orders = app.orders_of_buyer(&account.sub).await?;
    let list = orders
        .iter()
        .map(|o| {
            let params: Value = serde_json::from_str(&o.params).unwrap_or_default();
            let mut view = order_view(&o.order, None);
            view["namespace"] = json!(o.namespace);
            view["title"] = params["title"].clone();
            view["venue"] = params["venue"].clone();
            view["performance_status"] = json!(if o.archived_at.is_some() { "cancelled" } else { "live" });
            view
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Most performances one catalog page lists, and the default.
const MAX_PAGE: usize = 500;
/// The furthest a catalog page may start, as the document states (far past any catalog).
const MAX_OFFSET: usize = 1_000_000_000;
const DEFAULT_PAGE: usize = 100;

/// Every live performance, oldest first, a page at a time (`?limit=&offset=`); a next page
/// is announced by a `Link: <...>; rel="next"` header.
async fn catalog(State(app): State<AppState>, axum::extract::Query(page): axum::extract::Query<Page>) -> ApiResult {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("invalid_page", format!("limit must be 1 to {MAX_PAGE}")).field("limit").into());
    }
    let offset = page.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request("invalid_page", format!("offset must be 0 to {MAX_OFFSET}")).field("offset").into());
    }
    let all = app.registry.all();
    let list: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|ns| {
            json!({
                "namespace": ns.name,
                "title": ns.params.title,
                "venue": ns.params.venue,
                "sessions": ns.params.sessions,
                "url": format!("/p/{}/", ns.name),
            })
        })
        .collect();
    let mut response = Json(Value::Array(list)).into_response();
    if offset.saturating_add(limit) < all.len() {
        let next = format!("</api/v1/catalog?limit={limit}&offset={}>; rel=\"next\"", offset + limit);
        response.headers_mut().insert(http::header::LINK, http::HeaderValue::try_from(next).map_err(anyhow::Error::from)?);
    }
    Ok(response)
}

#[cfg(test)]
mod tests;
