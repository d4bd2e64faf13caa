//! The HTTP trigger: `/p/{ns}/…` goes to the component that owns the path in that
//! namespace, in a fresh instance per request, under the request deadline.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::app::App;
use crate::auth;
use crate::engine::EPOCH_TICK;
use crate::error::ApiError;
use crate::host::Host;
use crate::namespace::{Namespace, Route};
use crate::limits::Limit;
use crate::server::ClientAddr;
use crate::templates::RouteLimit;

/// Largest request body a function receives, announced by Content-Length.
pub const MAX_REQUEST_BODY: u64 = 1 << 20;
/// Largest response body a function may send; past it the response is cut off.
pub const MAX_RESPONSE_BODY: usize = 16 << 20;
/// A request's whole life (streaming included) may last this many times its CPU budget.
const WALL_CLOCK_FACTOR: u32 = 2;

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
    if let Some(connection) = req.extensions().get::<Arc<crate::fair::Follow>>() {
        connection.follow(&ns.slots.usage);
    }
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

    let started = Instant::now();
    let permit = acquire_slot(&ns).await;
    let result = match permit {
        Ok(permit) => run(&app, &ns, route, req, signature, permit).await,
        Err(e) => Err(e),
    };
    let status = result.as_ref().map(|r| r.status()).unwrap_or_else(|e| e.status);
    route.metrics.duration.observe(started.elapsed().as_secs_f64());
    if status.is_server_error() {
        route.metrics.errors.inc();
    }
    route.metrics.count(status.as_u16());
    result
}

/// Waits for one of the namespace's instance slots. A namespace past its queue bound sheds
/// its own load (503) instead of taking workers from its neighbours.
async fn acquire_slot(ns: &Namespace) -> Result<OwnedSemaphorePermit, ApiError> {
    let overloaded = || {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "this performance is busy; retry shortly");
        e.retry_after = Some(1);
        e
    };
    if let Ok(permit) = ns.slots.permits.clone().try_acquire_owned() {
        return Ok(permit);
    }
    if ns.slots.queued.get() as usize >= ns.limits.queue {
        return Err(overloaded());
    }
    ns.slots.queued.inc();
    let waited = tokio::time::timeout(ns.limits.timeout, ns.slots.permits.clone().acquire_owned()).await;
    ns.slots.queued.dec();
    match waited {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(overloaded()),
    }
}

/// Counts an instance as in flight for as long as it lives.
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Runs one request in a fresh instance of the route's component.
async fn run(
    app: &App,
    ns: &Arc<Namespace>,
    route: &Route,
    req: Request<Incoming>,
    signature: Option<String>,
    permit: OwnedSemaphorePermit,
) -> Result<Response<Body>, ApiError> {
    let timeout = ns.limits.timeout;
    let mut store = Store::new(app.pool.engine(), Host::new(ns.clone(), route.function.clone(), signature));
    store.limiter(|host| &mut host.memory);
    // Every tick the guest gives its worker back (a busy loop cannot hold one), and past its
    // budget it traps.
    let budget = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut ctx| {
        let host = ctx.data_mut();
        host.ticks += 1;
        Ok(if host.ticks >= budget { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
    });

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(anyhow::Error::from)?;
    let out = store.data_mut().http().new_response_outparam(sender).map_err(anyhow::Error::from)?;
    let pre = route.component.pre.clone();
    let metrics = route.metrics.clone();
    let running = ns.slots.running.clone();
    let usage = ns.slots.usage.clone();
    // The guest may stream its body after sending the head, so it runs apart from this
    // request's task, holding its slot until the instance is gone.
    let instance = async move {
        let _permit = permit;
        metrics.in_flight.inc();
        let _in_flight = InFlight(metrics.in_flight.clone());
        let call = async {
            let instantiating = Instant::now();
            let proxy = pre.instantiate_async(&mut store).await?;
            metrics.instantiation.observe(instantiating.elapsed().as_secs_f64());
            proxy.wasi_http_incoming_handler().call_handle(&mut store, request, out).await
        };
        // A guest that parks in host calls (a slow drip) spends no CPU budget; the wall
        // clock ends it too, and with it the response it was streaming.
        let result = match tokio::time::timeout(timeout * WALL_CLOCK_FACTOR, call).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::Trap::Interrupt.into()),
        };
        let memory = &store.data().memory;
        if memory.peak as i64 > metrics.memory_peak.get() {
            metrics.memory_peak.set(memory.peak as i64);
        }
        result.map_err(|e| (e, memory.refused))
    };
    let task = app.workers.run(instance, running, usage);

    let function = &route.function;
    // The task ends by the wall clock at the latest, dropping the sender with the instance.
    match receiver.await {
        Ok(Ok(response)) => Ok(response.map(|body| Body::new(http_body_util::Limited::new(body, MAX_RESPONSE_BODY)))),
        Ok(Err(code)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "function_error",
            format!("function {function} failed: {code:?}"),
        )),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "function_error",
                format!("function {function} returned without a response"),
            )),
            Ok(Err((error, memory_refused))) => Err(function_failure(ns, function, error, memory_refused)),
            Err(_) => Err(ApiError::internal(anyhow::anyhow!("function {function} panicked the host"))),
        },
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

/// A trapped request: out of time (504), out of memory or any other trap (500), each with a
/// body that says which. The instance is gone; nothing else is touched.
fn function_failure(ns: &Namespace, function: &str, error: wasmtime::Error, memory_refused: bool) -> ApiError {
    let (kind, status, code, message) = if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        ("timeout", StatusCode::GATEWAY_TIMEOUT, "timeout", format!("function {function} ran out of time"))
    } else if memory_refused {
        let limit = ns.limits.memory_bytes >> 20;
        ("memory", StatusCode::INTERNAL_SERVER_ERROR, "function_out_of_memory", format!("function {function} needed more than {limit} MiB"))
    } else {
        ("trap", StatusCode::INTERNAL_SERVER_ERROR, "function_trap", format!("function {function} failed: {error}"))
    };
    tracing::warn!(namespace = %ns.name, function, kind, error = format!("{error:#}"), "function trapped");
    ns.shared.metrics.trap(&ns.name, function, kind);
    ApiError::new(status, code, message)
}
