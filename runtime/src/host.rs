//! The state of one request's `Store` and the host side of the platform interfaces.
//!
//! Guests get a sandboxed WASI p2 (no preopens, no environment, no sockets, no outgoing
//! HTTP) beside `wasi:http`, and the platform interfaces scoped to their own namespace.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::{self, config, identity, inventory, kv, log};
use crate::namespace::Namespace;

/// Largest linear memory one instance may grow to.
pub const MAX_INSTANCE_MEMORY: usize = 64 << 20;
const MAX_KV_KEY: usize = 512;
const MAX_TABLE_ELEMENTS: usize = 100_000;
const MAX_KV_VALUE: usize = 1 << 20;

/// Outgoing HTTP is not a capability Marquee grants (yet): every request is denied.
struct DenyOutgoing;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Caps one instance's memory and records the largest it grew to.
pub struct MemoryLimiter {
    pub limit: usize,
    pub peak: usize,
    /// Whether a growth past the limit was refused (the guest usually traps next).
    pub refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Per-request store state.
pub struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: DenyOutgoing,
    pub memory: MemoryLimiter,
    /// Epoch ticks this request has run Wasm for; past its budget it traps.
    pub ticks: u64,
    ns: Arc<Namespace>,
    function: Arc<str>,
    /// Who sent the request, as the trigger verified it from credentials it then removed.
    caller: Result<identity::Principal, identity::Error>,
    /// The client's address, whose unpaid holds the inventory caps.
    address: Option<std::net::IpAddr>,
}

impl Host {
    pub fn new(
        ns: Arc<Namespace>,
        function: Arc<str>,
        caller: Result<identity::Principal, identity::Error>,
        address: Option<std::net::IpAddr>,
    ) -> Self {
        Self {
            // Nothing inherited: no env, args, stdio, preopens or network.
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: DenyOutgoing,
            memory: MemoryLimiter { limit: ns.limits.memory_bytes, peak: 0, refused: false },
            ticks: 0,
            ns,
            function,
            caller,
            address,
        }
    }

    /// The verified caller's account id: holds and orders are always the caller's own.
    fn buyer(&self) -> Result<String, inventory::Error> {
        self.caller.as_ref().map(|p| p.id.clone()).map_err(|_| inventory::Error::Unauthenticated)
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The linker every component is pre-instantiated against.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::Platform::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h)?;
    Ok(linker)
}

type HostResult<T> = wasmtime::Result<T>;

impl config::Host for Host {
    fn namespace(&mut self) -> HostResult<String> {
        Ok(self.ns.name.clone())
    }

    fn params(&mut self) -> HostResult<String> {
        Ok(self.ns.params_json.clone())
    }
}

impl kv::Host for Host {
    async fn get(&mut self, key: String) -> HostResult<Result<Option<Vec<u8>>, kv::Error>> {
        if key.len() > MAX_KV_KEY {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.ns.shared.kv.get(&self.ns.deployment, &key).await.map_err(unavailable))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<Result<(), kv::Error>> {
        if key.len() > MAX_KV_KEY || value.len() > MAX_KV_VALUE {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.ns.shared.kv.set(&self.ns.deployment, &key, &value).await.map_err(unavailable))
    }

    async fn delete(&mut self, key: String) -> HostResult<Result<(), kv::Error>> {
        if key.len() > MAX_KV_KEY {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.ns.shared.kv.delete(&self.ns.deployment, &key).await.map_err(unavailable))
    }
}

/// A store fault, told to the guest without the store's internals (logged here instead).
fn unavailable(error: anyhow::Error) -> kv::Error {
    tracing::warn!(error = format!("{error:#}"), "kv store call failed");
    kv::Error::Unavailable("the store is unavailable; try again".into())
}

impl log::Host for Host {
    fn emit(&mut self, level: log::Level, message: String) -> HostResult<()> {
        let (ns, function) = (&self.ns.name, &*self.function);
        match level {
            log::Level::Debug => tracing::debug!(target: "guest", ns, function, "{message}"),
            log::Level::Info => tracing::info!(target: "guest", ns, function, "{message}"),
            log::Level::Warn => tracing::warn!(target: "guest", ns, function, "{message}"),
            log::Level::Error => tracing::error!(target: "guest", ns, function, "{message}"),
        }
        Ok(())
    }
}

/// The verified buyer, or the call answers `unauthenticated`.
macro_rules! signed_in {
    ($host:expr) => {
        match $host.buyer() {
            Ok(buyer) => buyer,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// A fault of the claim store traps the call: the guest cannot tell it from a bug of its own,
/// and the request fails as a 5xx without internals.
fn trap(e: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::from_anyhow(e)
}

impl inventory::Host for Host {
    async fn availability(&mut self, session: String) -> HostResult<Result<inventory::SessionAvailability, inventory::Error>> {
        let ns = self.ns.clone();
        ns.inventory.availability(&session).await.map_err(trap)
    }

    async fn hold(
        &mut self,
        session: String,
        claim: inventory::Claim,
        idempotency_key: Option<String>,
        per_buyer_limit: u32,
    ) -> HostResult<Result<inventory::HoldReceipt, inventory::Error>> {
        let buyer = signed_in!(self);
        let (ns, address) = (self.ns.clone(), self.address);
        let holder = crate::inventory::Holder { buyer: &buyer, address };
        ns.inventory.hold(holder, &session, &claim, idempotency_key.as_deref(), per_buyer_limit).await.map_err(trap)
    }

    async fn release(&mut self, hold_id: String) -> HostResult<Result<(), inventory::Error>> {
        let buyer = signed_in!(self);
        let ns = self.ns.clone();
        ns.inventory.release(&buyer, &hold_id).await.map_err(trap)
    }

    async fn confirm(&mut self, hold_id: String, payment: String) -> HostResult<Result<inventory::Order, inventory::Error>> {
        let buyer = signed_in!(self);
        let ns = self.ns.clone();
        ns.inventory.confirm(&buyer, &hold_id, &payment).await.map_err(trap)
    }

    async fn cancel(&mut self, order_id: String) -> HostResult<Result<inventory::Order, inventory::Error>> {
        let buyer = signed_in!(self);
        let ns = self.ns.clone();
        ns.inventory.cancel(&buyer, &order_id).await.map_err(trap)
    }

    async fn orders(&mut self) -> HostResult<Result<Vec<inventory::Order>, inventory::Error>> {
        let buyer = signed_in!(self);
        let ns = self.ns.clone();
        Ok(Ok(ns.inventory.orders(&buyer).await.map_err(trap)?))
    }
}

impl identity::Host for Host {
    fn caller(&mut self) -> HostResult<Result<identity::Principal, identity::Error>> {
        Ok(self.caller.clone())
    }
}
