//! The listener: one hyper server for the control plane and every namespace's triggers,
//! with a graceful drain on SIGTERM / Ctrl-C.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use marquee_host::App;
use marquee_limits::ClientAddr;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers, and how long a kept-alive
/// connection may sit idle between requests: a slow or silent client does not hold a
/// connection (or a shutdown) forever.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 20_000;
/// Largest request head the platform answers (431 in the error shape past it), and the most
/// header fields. hyper's own limits sit far above, where it answers 431 itself (in the
/// error shape too: crate::parse_errors).
const MAX_HEAD_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 100;
const HYPER_HEAD_LIMIT: usize = 1 << 20;
const HYPER_MAX_HEADERS: usize = 1000;

/// Open connections one client address may have at once; past it new ones are closed.
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: usize = 1024;

/// Binds `addr`; the returned listener's address is the one to announce.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("failed to listen on {addr}"))
}

/// How often idle rate-limit buckets are forgotten.
const LIMIT_SHRINK_INTERVAL: Duration = Duration::from_secs(60);

/// Open connections per client address.
#[derive(Default)]
struct Connections {
    by_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open connection, counted against its address until it is dropped.
struct Counted {
    connections: Arc<Connections>,
    address: std::net::IpAddr,
}

impl Connections {
    fn open(self: &Arc<Self>, address: std::net::IpAddr, cap: usize) -> Option<Counted> {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(address).or_default();
        if *open >= cap {
            return None;
        }
        *open += 1;
        Some(Counted { connections: self.clone(), address })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut map = self.connections.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.address);
            }
        }
    }
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
    let weak = Arc::downgrade(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LIMIT_SHRINK_INTERVAL);
        while let Some(app) = { tick.tick().await; weak.upgrade() } {
            app.limits.shrink();
        }
    });
    let weak = Arc::downgrade(&app);
    tokio::spawn(async move {
        let cores = marquee_deployments::running_permits() as u64;
        let mut tick = tokio::time::interval(marquee_deployments::fair::TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while let Some(app) = { tick.tick().await; weak.upgrade() } {
            marquee_deployments::fair::rebalance(&app.shared.active, cores);
        }
    });
    let control = marquee_control::router(app.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.settings.header_timeout)
        .max_buf_size(HYPER_HEAD_LIMIT)
        .max_headers(HYPER_MAX_HEADERS);
    let connections = Arc::new(Connections::default());
    let per_address = app.settings.connections_per_address;
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(counted) = connections.open(peer.ip(), per_address) else {
            tracing::debug!(address = %peer.ip(), "too many connections from one address; closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The connection runs where the namespace of its latest request runs (marquee_deployments::fair).
        let class = Arc::new(marquee_deployments::fair::Follow::default());
        let service = {
            let (app, control, class) = (app.clone(), control.clone(), class.clone());
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let client = app.settings.trusted_proxies.client(peer.ip(), req.headers());
                req.extensions_mut().insert(ClientAddr(client));
                req.extensions_mut().insert(class.clone());
                let app = app.clone();
                let control = control.clone();
                async move { Ok::<_, Infallible>(route(app, control, req).await) }
            })
        };
        let io = TokioIo::new(crate::parse_errors::ParseErrors::new(Rehoming { stream: Some(stream), background: false }));
        let conn = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        let conn = async move {
            let _counted = counted;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        };
        app.workers.serve(conn, class);
    }
    drop(listener);
    tracing::info!("draining in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("drain timed out; closing the remaining connections");
    }
    Ok(())
}

async fn route(app: Arc<App>, control: axum::Router, req: Request<Incoming>) -> Response<Body> {
    let head: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if head > MAX_HEAD_BYTES || req.headers().len() > MAX_HEADERS {
        let message = format!("request headers are limited to {MAX_HEADERS} fields and {} KiB", MAX_HEAD_BYTES >> 10);
        let too_large = marquee_api::ApiError::new(http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, marquee_api::Code::HeadersTooLarge, message);
        let mut response = too_large.response().map(Body::from);
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        return response;
    }
    let path = req.uri().path();
    let part = &app.settings.part;
    if path.starts_with("/p/") && !part.serves_performances() {
        return not_here("this process is the control plane; performances are served by the runtimes");
    }
    // Every role answers `/metrics` and the orchestrator's probes.
    let every_role = matches!(path, "/metrics" | "/healthz" | "/readyz");
    if !path.starts_with("/p/") && !every_role && !part.serves_control() {
        return not_here("this process is a runtime: it serves /p/{namespace}/… and /metrics");
    }
    // While the shared store does not answer, a call that needs it is told so at once.
    if !app.store_up() && (path.starts_with("/p/") || path.starts_with("/api/")) {
        return marquee_api::ApiError::store_unavailable().response().map(Body::from);
    }
    if path.starts_with("/p/") {
        marquee_trigger_http::handle(app, req).await
    } else {
        match control.oneshot(req.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

fn not_here(message: &str) -> Response<Body> {
    marquee_api::ApiError::not_found(message).response().map(Body::from)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("failed to install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A connection's socket, registered with the reactor of whichever workers poll it: a
/// connection moved to the background stops waking the foreground for its readiness.
struct Rehoming {
    stream: Option<TcpStream>,
    background: bool,
}

impl Rehoming {
    fn stream(&mut self) -> std::io::Result<Pin<&mut TcpStream>> {
        let lost = || std::io::Error::other("connection lost while moving");
        let here = marquee_deployments::fair::on_background();
        if here != self.background {
            let moved = self.stream.take().ok_or_else(lost)?;
            // Registers with the runtime this poll runs in.
            self.stream = Some(TcpStream::from_std(moved.into_std()?)?);
            self.background = here;
        }
        Ok(Pin::new(self.stream.as_mut().ok_or_else(lost)?))
    }
}

impl AsyncRead for Rehoming {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.stream()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for Rehoming {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.stream()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        self.stream()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream()?.poll_shutdown(cx)
    }
}
