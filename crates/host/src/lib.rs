//! Marquee's Wasm host: the one engine, the component pool, and the store state of one request.
//!
//! Guests get a sandboxed WASI p2 (no preopens, no environment, no sockets, no outgoing HTTP)
//! beside `wasi:http`, and one capability per platform interface ([`Config`], [`Kv`], [`Log`],
//! [`Identity`], [`Inventory`]), each holding only the per-request state its calls need. The
//! trigger builds them; what they serve is the domain's (the inventory is `marquee-ticketing`'s).

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

mod bindings;
mod config;
mod engine;
mod identity;
mod inventory;
mod kv;
mod log;
mod pool;

pub use bindings::identity::{Error as CallerError, Principal};
pub use config::Config;
pub use identity::Identity;
pub use inventory::Inventory;
pub use kv::Kv;
pub use log::Log;
pub use pool::{Loaded, Pool, UploadError};

const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The platform over this host's component pool: what a process runs.
pub type App = marquee_deployments::App<pool::Pool>;
/// A live performance whose routes run this host's compiled components.
pub type Namespace = marquee_deployments::Namespace<pool::Loaded>;

/// What a guest may do on behalf of one request, one field per platform interface.
pub struct Capabilities {
    /// `config`: the performance's name and params.
    pub config: config::Config,
    /// `kv`: the performance's own keys.
    pub kv: kv::Kv,
    /// `log`: lines tagged with the performance and function.
    pub log: log::Log,
    /// `identity`: the verified caller, if any.
    pub identity: identity::Identity,
    /// `inventory`: the performance's seats, units and orders.
    pub inventory: inventory::Inventory,
}

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
    /// The largest linear memory allowed, in bytes.
    pub limit: usize,
    /// The largest it grew to.
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
    /// The instance's memory cap and peak.
    pub memory: MemoryLimiter,
    /// Epoch ticks this request has run Wasm for; past its budget it traps.
    pub ticks: u64,
    capabilities: Capabilities,
}

impl Host {
    /// An instance's state: at most `memory_limit` bytes of memory, granted `capabilities`.
    pub fn new(memory_limit: usize, capabilities: Capabilities) -> Self {
        Self {
            // Nothing inherited: no env, args, stdio, preopens or network.
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: DenyOutgoing,
            memory: MemoryLimiter { limit: memory_limit, peak: 0, refused: false },
            ticks: 0,
            capabilities,
        }
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

/// The linker every component is pre-instantiated against: each platform interface is served
/// by its own capability.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<Host>> {
    use bindings::marquee::platform as wit;
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wit::config::add_to_linker::<Host, HasSelf<config::Config>>(&mut linker, |h| &mut h.capabilities.config)?;
    wit::kv::add_to_linker::<Host, HasSelf<kv::Kv>>(&mut linker, |h| &mut h.capabilities.kv)?;
    wit::log::add_to_linker::<Host, HasSelf<log::Log>>(&mut linker, |h| &mut h.capabilities.log)?;
    wit::identity::add_to_linker::<Host, HasSelf<identity::Identity>>(&mut linker, |h| &mut h.capabilities.identity)?;
    wit::inventory::add_to_linker::<Host, HasSelf<inventory::Inventory>>(&mut linker, |h| &mut h.capabilities.inventory)?;
    Ok(linker)
}
