//! The HTTP trigger: `/p/{ns}/…` goes to the component that owns the path in that
//! namespace, in a fresh instance per request, under the request deadline.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::app::App;
use crate::auth;
use crate::engine::EPOCH_TICK;
use crate::error::ApiError;
use crate::host::Host;
use crate::limits::Limit;
use crate::server::ClientAddr;
use crate::templates::RouteLimit;

/// Largest request body a function receives, announced by Content-Length.
pub const MAX_REQUEST_BODY: u64 = 1 << 20;

pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    match dispatch(app, req).await {
        Ok(response) => response,
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

async fn dispatch(app: Arc<App>, mut req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/p/").unwrap_or("");
    let (name, inner) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if inner.is_empty() {
        // `/p/ns` -> `/p/ns/`, so the storefront's relative links resolve inside the namespace.
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = HeaderValue::try_from(format!("/p/{name}/{query}"))
            .map_err(|_| ApiError::bad_request("invalid_path", "invalid path"))?;
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
        response.headers_mut().insert(http::header::LOCATION, location);
        return Ok(response);
    }
    let ns = app
        .registry
        .get(name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_namespace", format!("no performance {name:?}")))?;
    let route = ns.route(inner).ok_or_else(|| ApiError::not_found(format!("no route for {inner}")))?;
    let signature = take_session_cookies(&mut req);
    if route.rate_limit == Some(RouteLimit::Holds) && req.method() == http::Method::POST {
        let address = req.extensions().get::<ClientAddr>().map(|c| c.0);
        app.limits.check_address(Limit::HoldByAddress, address).map_err(ApiError::too_many)?;
        let authorization = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        // Unauthenticated holds are the component's to refuse; only buyers have a bucket.
        if let Ok(claims) = app.shared.auth.verify_header(authorization, signature.as_deref()) {
            app.limits.check(Limit::HoldByBuyer, &claims.sub).map_err(ApiError::too_many)?;
        }
    }
    let too_large = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_REQUEST_BODY);
    if too_large {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_REQUEST_BODY} bytes"),
        ));
    }

    // The component sees the path inside its namespace, as a standalone wasi:http proxy would.
    let target = match req.uri().query() {
        Some(q) => format!("{inner}?{q}"),
        None => inner.to_string(),
    };
    *req.uri_mut() = Uri::builder()
        .scheme("http")
        .authority(req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost"))
        .path_and_query(target)
        .build()
        .map_err(|_| ApiError::bad_request("invalid_path", "invalid request target"))?;

    let timeout = app.settings.request_timeout;
    let mut store = Store::new(app.pool.engine(), Host::new(ns.clone(), route.function.clone(), signature));
    store.limiter(|host| &mut host.limits);
    store.set_epoch_deadline((timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64);

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(anyhow::Error::from)?;
    let out = store.data_mut().http().new_response_outparam(sender).map_err(anyhow::Error::from)?;
    let pre = route.component.pre.clone();
    let function = route.function.clone();
    // The guest may stream its body after sending the head, so it runs in its own task.
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy.wasi_http_incoming_handler().call_handle(&mut store, request, out).await
    });

    // Past the CPU deadline the epoch traps the guest; this covers a guest parked on I/O.
    match tokio::time::timeout(timeout + EPOCH_TICK * 10, receiver).await {
        Ok(Ok(Ok(response))) => Ok(response.map(Body::new)),
        Ok(Ok(Err(code))) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "function_error",
            format!("function {function} failed: {code:?}"),
        )),
        Ok(Err(_)) => {
            let message = match task.await {
                Ok(Ok(())) => "the function returned without a response".to_string(),
                Ok(Err(e)) => return Err(function_failure(&ns.name, &function, e)),
                Err(e) => format!("the function's task failed: {e}"),
            };
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "function_error", format!("function {function}: {message}")))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("function {function} did not answer within {timeout:?}"),
        )),
    }
}

/// Removes the platform's session cookies from a request bound for a guest and returns the
/// signature half of a browser session, if any.
fn take_session_cookies(req: &mut Request<Incoming>) -> Option<String> {
    let header = req.headers().get(http::header::COOKIE)?.to_str().ok()?.to_string();
    let signature = auth::cookie(Some(&header), auth::SIGNATURE_COOKIE).map(str::to_string);
    let rest = auth::without_session_cookies(&header);
    match HeaderValue::try_from(rest) {
        Ok(value) if !value.is_empty() => req.headers_mut().insert(http::header::COOKIE, value),
        _ => req.headers_mut().remove(http::header::COOKIE),
    };
    signature
}

fn function_failure(namespace: &str, function: &str, error: wasmtime::Error) -> ApiError {
    if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        return ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", format!("function {function} ran out of time"));
    }
    tracing::warn!(namespace, function, error = format!("{error:#}"), "function trapped");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "function_trap", format!("function {function} failed: {error}"))
}
