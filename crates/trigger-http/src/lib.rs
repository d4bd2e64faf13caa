//! The HTTP trigger: `/p/{ns}/…` goes to the component that owns the path in that
//! namespace, in a fresh instance per request, under the request deadline.

use std::sync::Arc;

mod guard;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use marquee_identity as auth;
use marquee_deployments::fair::EPOCH_TICK;
use marquee_api::{ApiError, BODY_TIMEOUT, Code};
use marquee_host::{App, CallerError, Capabilities, Config, Host, Identity, Inventory, Kv, Loaded, Log, Namespace, Principal};
use marquee_limits::{ClientAddr, Limit};
use marquee_ticketing::templates::RouteLimit;

/// Largest request body a function receives, announced by Content-Length.
pub const MAX_REQUEST_BODY: u64 = 1 << 20;
/// Largest response body a function may send; past it the response is cut off.
pub const MAX_RESPONSE_BODY: usize = 16 << 20;
/// A request's whole life (streaming included) may last this many times its CPU budget.
const WALL_CLOCK_FACTOR: u32 = 2;

/// Answers a request to `/p/{ns}/…`: admits it (limits, credentials), runs its function, and answers every failure in the error shape.
pub async fn handle(app: Arc<App>, mut req: Request<Incoming>) -> Response<Body> {
    let result = match admit(&app, &mut req).await {
        Ok(Admitted::Answer(response)) => Ok(response),
        Ok(Admitted::Run { ns, route, caller, payment: false }) => dispatch(&app, &ns, route, req, caller, None).await,
        Ok(Admitted::Run { ns, route, caller, payment: true }) => match take_payment(req).await {
            Ok((req, payment)) => dispatch(&app, &ns, route, req, caller, Some(payment)).await,
            Err(e) => Err(e),
        },
        Err(e) => {
            // Read what the client sent before answering, or hyper closes the connection
            // after the answer and a client reusing it sees a disconnect.
            drain(req.into_body()).await;
            Err(e)
        }
    };
    let mut response = result.unwrap_or_else(|e| e.response().map(Body::from));
    protect(response.headers_mut());
    response
}

/// How much of a refused request's body is read so its connection stays usable.
const DRAIN_LIMIT: usize = MAX_REQUEST_BODY as usize;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn drain(body: Incoming) {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, DRAIN_LIMIT);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, limited.collect()).await;
}

/// What the checks before a guest decided: answer at once, or run the route.
enum Admitted {
    Answer(Response<Body>),
    /// `payment`: the request pays for a hold, and its payment is the host's to read.
    Run { ns: Arc<Namespace>, route: usize, caller: Result<Principal, CallerError>, payment: bool },
}

/// Everything the host decides before a guest runs: the namespace and route, the caller
/// (whose credentials it removes), the rate limits, the size of the body, the target.
async fn admit(app: &App, req: &mut Request<Incoming>) -> Result<Admitted, ApiError> {
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/p/").unwrap_or("");
    let (name, inner) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if inner.is_empty() {
        // `/p/ns` -> `/p/ns/`, so the storefront's relative links resolve inside the namespace.
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = HeaderValue::try_from(format!("/p/{name}/{query}"))
            .map_err(|_| ApiError::bad_request(Code::InvalidPath, "invalid path"))?;
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
        response.headers_mut().insert(http::header::LOCATION, location);
        return Ok(Admitted::Answer(response));
    }
    let ns = app
        .registry
        .get(name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, Code::UnknownNamespace, format!("no performance {name:?}")))?;
    if req.method() == http::Method::OPTIONS && req.headers().contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD) {
        return Ok(Admitted::Answer(preflight()));
    }
    let segments = guard::canonical_segments(inner);
    if guard::is_credential_path(&segments) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::SignInOnPlatform,
            "accounts sign up and log in on the platform (/api/v1/auth/...), never through a performance; \
             a performance's own page gets a token for it from POST /api/v1/auth/namespace-token",
        ));
    }
    let index = ns.route(inner).ok_or_else(|| ApiError::not_found(format!("no route for {inner}")))?;
    let route = &ns.routes[index];
    if let Some(connection) = req.extensions().get::<Arc<marquee_deployments::fair::Follow>>() {
        connection.follow(&ns.slots.usage);
    }
    // The component learns who is calling from the host, never from a credential.
    let caller = take_caller(app, &ns.deployment, req);
    if guard::is_auth_path(&segments) && req.method() != http::Method::GET {
        // A code or secret checked by a component (a presale code, say) is a credential
        // check like a log-in: it shares the control plane's buckets.
        let address = req.extensions().get::<ClientAddr>().map(|c| c.0);
        let checked = match &caller {
            Ok(principal) => app.limits.check_login(&principal.email, address).await,
            Err(_) => app.limits.check_address(Limit::LoginByAddress, address).await,
        };
        checked.map_err(ApiError::too_many)?;
    }
    if route.rate_limit == Some(RouteLimit::Holds) && req.method() == http::Method::POST {
        let address = req.extensions().get::<ClientAddr>().map(|c| c.0);
        app.limits.check_address(Limit::HoldByAddress, address).await.map_err(ApiError::too_many)?;
        // Unauthenticated holds are the component's to refuse; only buyers have a bucket.
        if let Ok(principal) = &caller {
            app.limits.check(Limit::HoldByBuyer, &principal.id).await.map_err(ApiError::too_many)?;
        }
    }
    let too_large = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_REQUEST_BODY);
    if too_large {
        return Err(ApiError::body_too_large(MAX_REQUEST_BODY));
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
        .map_err(|_| ApiError::bad_request(Code::InvalidPath, "invalid request target"))?;
    let payment = guard::is_payment(req.method(), &segments);
    Ok(Admitted::Run { ns, route: index, caller, payment })
}

/// Reads a payment's body on the host and hands the component `{}` in its place: card data
/// goes to the payment provider through the host, never into a component's memory (as a
/// provider's tokenized payment element keeps it out of a merchant's page). The payment is
/// what the body's `payment` holds.
async fn take_payment(req: Request<Incoming>) -> Result<(Request<Full<Bytes>>, String), ApiError> {
    let (mut parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_REQUEST_BODY as usize);
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return Err(ApiError::body_too_large(MAX_REQUEST_BODY)),
        Err(_) => return Err(ApiError::body_timeout()),
    };
    let invalid = || ApiError::bad_request(Code::InvalidJson, "the body must be a JSON object such as {\"payment\": {\"card\": \"…\"}}");
    let payment = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| invalid())? {
            serde_json::Value::Object(mut body) => body.remove("payment").unwrap_or_default(),
            _ => return Err(invalid()),
        }
    };
    let forwarded = Bytes::from_static(b"{}");
    parts.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(forwarded.len()));
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    Ok((Request::from_parts(parts, Full::new(forwarded)), payment.to_string()))
}

/// Runs an admitted request in its route's component, with the route's metrics; `payment`
/// is what the host read off a payment's body.
async fn dispatch<B>(
    app: &App,
    ns: &Arc<Namespace>,
    route: usize,
    req: Request<B>,
    caller: Result<Principal, CallerError>,
    payment: Option<String>,
) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let route = &ns.routes[route];
    let started = Instant::now();
    let permit = acquire_slot(ns).await;
    let result = match permit {
        Ok(permit) => run(app, ns, route, req, caller, payment, permit).await,
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
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Overloaded, "this performance is busy; retry shortly");
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
async fn run<B>(
    app: &App,
    ns: &Arc<Namespace>,
    route: &marquee_deployments::Route<Loaded>,
    req: Request<B>,
    caller: Result<Principal, CallerError>,
    payment: Option<String>,
    permit: OwnedSemaphorePermit,
) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let timeout = ns.limits.timeout;
    let address = req.extensions().get::<ClientAddr>().map(|c| c.0);
    let capabilities = Capabilities {
        config: Config { namespace: ns.guest.namespace.clone(), params: ns.guest.params.clone() },
        kv: Kv { store: ns.shared.kv.clone(), scope: ns.guest.kv_scope.clone() },
        log: Log { namespace: ns.guest.namespace.clone(), function: route.function.clone() },
        inventory: Inventory { inventory: ns.inventory.clone(), buyer: caller.as_ref().ok().map(|p| p.id.clone()), address, payment },
        identity: Identity { caller },
    };
    let mut store = Store::new(app.pool.engine(), Host::new(ns.limits.memory_bytes, capabilities));
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
    ns.touch();
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
        Ok(Ok(response)) => {
            let (streamed_ns, function) = (ns.clone(), function.clone());
            let mut response = response.map(move |body| {
                let body = http_body_util::Limited::new(body, MAX_RESPONSE_BODY);
                Body::new(Streamed { body, instance: Some(task), ns: streamed_ns, function })
            });
            guard::guard_response(&ns.name, response.headers_mut());
            Ok(response)
        }
        Ok(Err(code)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::FunctionError,
            format!("function {function} failed: {code:?}"),
        )),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::FunctionError,
                format!("function {function} returned without a response"),
            )),
            Ok(Err((error, memory_refused))) => Err(function_failure(ns, function, error, memory_refused)),
            Err(_) => Err(ApiError::internal(anyhow::anyhow!("function {function} panicked the host"))),
        },
    }
}

type InstanceOutcome = tokio::sync::oneshot::Receiver<Result<(), (wasmtime::Error, bool)>>;

/// A component's response body. When its instance traps or runs out of time mid-stream, the
/// body ends in an error (the connection is cut, a chunked body never gets its last chunk)
/// instead of ending cleanly, so no client takes a cut-off body for a whole one.
struct Streamed<B> {
    body: B,
    /// Resolves when the instance is gone; `None` once its outcome was read.
    instance: Option<InstanceOutcome>,
    ns: Arc<Namespace>,
    function: Arc<str>,
}

impl<B> hyper::body::Body for Streamed<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {}
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => return Poll::Pending,
        }
        let Some(instance) = this.instance.as_mut() else { return Poll::Ready(None) };
        let outcome = std::task::ready!(std::pin::Pin::new(instance).poll(cx));
        this.instance = None;
        match outcome {
            Ok(Ok(())) => Poll::Ready(None),
            Ok(Err((error, memory_refused))) => {
                let failure = function_failure(&this.ns, &this.function, error, memory_refused);
                Poll::Ready(Some(Err(failure.message.into())))
            }
            Err(_) => Poll::Ready(Some(Err(format!("function {} panicked the host", this.function).into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.instance.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Verifies and removes the request's credentials (the `Authorization` header and the
/// platform's session cookies) before a guest sees it: platform tokens and this deployment's
/// own namespace tokens are accepted, tokens of other namespaces (or of an earlier
/// performance of the same name) are not.
fn take_caller(app: &App, deployment: &str, req: &mut Request<Incoming>) -> Result<Principal, CallerError> {
    let signature = guard::take_session_cookies(req.headers_mut());
    let authorization = req.headers_mut().remove(http::header::AUTHORIZATION);
    let header = authorization.as_ref().map(|v| v.to_str().unwrap_or(""));
    match app.shared.auth.verify_header(header, signature.as_deref(), Some(deployment)) {
        Ok(claims) => Ok(Principal { id: claims.sub, email: claims.email, role: claims.role.as_str().into() }),
        Err(auth::AuthError::Missing) => Err(CallerError::Missing),
        Err(_) => Err(CallerError::Invalid),
    }
}

/// What every page a component serves runs under: a sandbox without the platform's origin
/// (no access to the console's cookies, storage or windows), framed only by the platform.
const COMPONENT_CSP: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads; frame-ancestors 'self'";

/// The platform's headers on everything under `/p/`.
fn protect(headers: &mut http::HeaderMap) {
    headers.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(COMPONENT_CSP));
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A sandboxed page has no origin of its own, so even its calls to its own API are
    // cross-origin. Any origin may read, none with cookies: a caller proves who it is with a
    // token it holds, never with the platform's cookies.
    headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
}

/// The answer to a CORS preflight of a performance's API, from the host.
fn preflight() -> Response<Body> {
    use http::header;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, idempotency-key"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// A trapped request: out of time (504), the store not answering a host call (503), out of
/// memory or any other trap (500), each with a body that says which. The instance is gone; nothing else is touched.
fn function_failure(ns: &Namespace, function: &str, error: wasmtime::Error, memory_refused: bool) -> ApiError {
    let (kind, answer) = if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        ("timeout", ApiError::new(StatusCode::GATEWAY_TIMEOUT, Code::Timeout, format!("function {function} ran out of time")))
    } else if error.chain().any(marquee_store::is_unavailable) {
        // The store did not answer a host call: an outage to retry (with the same
        // Idempotency-Key), not the function's fault.
        ("store", ApiError::store_unavailable())
    } else if memory_refused {
        let limit = ns.limits.memory_bytes >> 20;
        let message = format!("function {function} needed more than {limit} MiB");
        ("memory", ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Code::FunctionOutOfMemory, message))
    } else {
        // The trap's text names the guest's own symbols: it goes to the log, not to the caller.
        ("trap", ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Code::FunctionTrap, format!("function {function} failed")))
    };
    tracing::warn!(namespace = %ns.name, function, kind, error = format!("{error:#}"), "function trapped");
    ns.shared.metrics.trap(&ns.name, function, kind);
    answer
}
