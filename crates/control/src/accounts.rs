//! Accounts and sessions: sign-up, log-in (API and browser sessions), refresh, log-out,
//! password change, the namespace token a performance's own page gets, and key rotation.

use super::*;

pub(crate) async fn signup(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    app.limits.check_address(Limit::SignupByAddress, Some(addr.0)).await.map_err(ApiError::too_many)?;
    let req: SignupRequest = parse(&body)?;
    let role = match Role::parse(&req.role) {
        Some(role @ (Role::Buyer | Role::Seller)) => role,
        _ => return Err(ApiError::bad_request(Code::InvalidRole, "role must be buyer or seller").field("role").into()),
    };
    let account = app.shared.auth.sign_up(&req.email, req.password, role).await.map_err(|e| match e {
        auth::SignupError::InvalidEmail(m) => ApiError::bad_request(Code::InvalidEmail, m).field("email"),
        auth::SignupError::WeakPassword(m) => ApiError::bad_request(Code::WeakPassword, m).field("password"),
        auth::SignupError::EmailTaken => email_taken(),
        auth::SignupError::Internal(e) => ApiError::internal(e),
    })?;
    let view = marquee_api::Account { id: account.id, email: account.email, role: account.role.as_str().to_string() };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(crate) fn email_taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, Code::EmailTaken, "an account with this email exists").field("email")
}

/// A token pair as a browser gets it: the page receives only `header.payload` of the access
/// token; the signature and the refresh token travel in HttpOnly cookies.
pub(crate) fn browser_session(pair: TokenPair, secure: bool) -> Response {
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

pub(crate) fn with_cookies(mut response: Response, cookies: [String; 2]) -> Response {
    for cookie in cookies {
        if let Ok(value) = http::HeaderValue::try_from(cookie) {
            response.headers_mut().append(http::header::SET_COOKIE, value);
        }
    }
    response
}

pub(crate) fn session(app: &App, pair: TokenPair, mode: SessionMode) -> Response {
    match mode {
        SessionMode::Api => Json(pair).into_response(),
        SessionMode::Browser => browser_session(pair, app.secure_cookies()),
    }
}

pub(crate) async fn login(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    let req: LoginRequest = parse(&body)?;
    app.limits.check_login(&req.email.trim().to_ascii_lowercase(), Some(addr.0)).await.map_err(ApiError::too_many)?;
    match app.shared.auth.log_in(&req.email, req.password).await? {
        auth::LogIn::Session(found) => Ok(session(&app, found.1, req.mode)),
        auth::LogIn::MustChangePassword => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Code::PasswordChangeRequired,
            "this one-time password must be changed first: POST /api/v1/auth/password",
        ).into()),
        auth::LogIn::Wrong => Err(ApiError::unauthorized("wrong email or password").into()),
    }
}

/// Changes an account's password (the current one proves it is theirs), ends all of its
/// sessions and starts a new one. A credential check: log-in's limits apply.
pub(crate) async fn change_password(State(app): State<AppState>, Extension(addr): Extension<ClientAddr>, body: Bytes) -> ApiResult {
    let req: PasswordRequest = parse(&body)?;
    app.limits.check_login(&req.email.trim().to_ascii_lowercase(), Some(addr.0)).await.map_err(ApiError::too_many)?;
    match app.shared.auth.change_password(&req.email, req.password, req.new_password).await? {
        Ok(pair) => Ok(session(&app, pair, req.mode)),
        Err(auth::PasswordError::Wrong) => Err(ApiError::unauthorized("wrong email or password").into()),
        Err(auth::PasswordError::Weak(reason)) => Err(ApiError::bad_request(Code::WeakPassword, reason).field("new_password").into()),
    }
}

/// The refresh token of a call: from the body (API clients), or from the refresh cookie
/// (browser sessions, whose body is empty).
pub(crate) fn refresh_token(headers: &http::HeaderMap, body: &Bytes) -> ApiResult<(String, SessionMode)> {
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
pub(crate) async fn namespace_token(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Json<Value>> {
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
pub(crate) fn same_origin(headers: &http::HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    match (value(http::header::ORIGIN), value(http::header::HOST)) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        _ => false,
    }
}

pub(crate) async fn refresh(State(app): State<AppState>, headers: http::HeaderMap, body: Bytes) -> ApiResult {
    let (token, mode) = refresh_token(&headers, &body)?;
    match app.shared.auth.refresh(&token).await? {
        Ok(pair) => Ok(session(&app, pair, mode)),
        Err(AuthError::Reused) => Err(ApiError::unauthorized("refresh token already used; the session is revoked").into()),
        Err(_) => Err(ApiError::unauthorized("invalid or expired refresh token").into()),
    }
}

pub(crate) async fn logout(State(app): State<AppState>, headers: http::HeaderMap, body: Bytes) -> ApiResult {
    let (token, mode) = refresh_token(&headers, &body)?;
    if !app.shared.auth.logout(&token).await? {
        return Err(ApiError::unauthorized("unknown refresh token").into());
    }
    let response = StatusCode::NO_CONTENT.into_response();
    Ok(if mode == SessionMode::Browser { with_cookies(response, auth::clearing_cookies(app.secure_cookies())) } else { response })
}

/// Starts signing with a new key; tokens signed with the previous keys stay valid.
pub(crate) async fn rotate_keys(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_role(&[Role::Admin])?;
    let kid = app.shared.auth.rotate().await?;
    Ok(Json(json!({ "kid": kid })))
}
