//! The component pool: every component by sha256 digest, compiled once. The original bytes
//! (`<digest>.wasm`) and our own compiled artifact (`<digest>.cwasm`) live in the data dir;
//! a restart maps the artifact instead of compiling again. Only artifacts this process wrote
//! are ever deserialized, never bytes a user sent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use marquee_deployments::Components;
use marquee_store::files::write_atomically;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::Host;

/// A compiled component, pre-instantiated against the host linker: creating an instance
/// per request only allocates and initializes.
pub struct Loaded {
    /// The sha256 of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: usize,
    /// It, pre-instantiated against the host's linker.
    pub pre: ProxyPre<Host>,
}

/// The compiled components: built-ins and uploads, on disk by digest and compiled once, shared by every performance that runs them.
pub struct Pool {
    engine: Engine,
    linker: Linker<Host>,
    dir: PathBuf,
    loaded: RwLock<HashMap<String, Arc<Loaded>>>,
    /// Built-in component name -> digest of the build shipped in this binary.
    builtins: HashMap<String, String>,
}

/// Interfaces an uploaded component may import: the platform's, and sandboxed WASI p2.
const ALLOWED_IMPORTS: &[&str] = &[
    "marquee:platform/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:http/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Why an upload was refused; the message is for the uploader.
#[derive(Debug)]
pub struct UploadError(pub String);

/// The narrowest Marquee world whose imports cover a component's.
fn world_of(imports: &[String]) -> &'static str {
    let uses = |interface: &str| imports.iter().any(|i| i.starts_with(&format!("marquee:platform/{interface}@")));
    match (uses("inventory"), uses("identity")) {
        (true, true) => "booking",
        (false, true) => "auth",
        _ => "listing",
    }
}

/// The digest a component's bytes are stored under: their sha256, in hex.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Pool {
    /// Starts the engine (and its epoch ticker) and opens the pool on it: what a process runs.
    pub fn start(dir: &Path, builtins: &[(&str, &[u8])]) -> Result<Self> {
        let engine = crate::engine::new_engine()?;
        crate::engine::start_epoch_ticker(&engine);
        Self::open(&engine, dir, builtins)
    }

    /// Opens the pool in `dir` and loads the built-in components of this binary.
    fn open(engine: &Engine, dir: &Path, builtins: &[(&str, &[u8])]) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let mut pool = Self {
            engine: engine.clone(),
            linker: crate::linker(engine)?,
            dir: dir.to_path_buf(),
            loaded: RwLock::default(),
            builtins: HashMap::new(),
        };
        for (name, bytes) in builtins {
            let loaded = pool.add(bytes).with_context(|| format!("built-in component {name}"))?;
            pool.builtins.insert(name.to_string(), loaded.digest.clone());
        }
        Ok(pool)
    }

    /// The engine every component here is compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Adds component bytes to the pool, compiling them unless this digest is known.
    fn add(&self, bytes: &[u8]) -> Result<Arc<Loaded>> {
        let digest = digest_of(bytes);
        if let Some(loaded) = self.loaded.read().unwrap().get(&digest) {
            return Ok(loaded.clone());
        }
        let wasm = self.dir.join(format!("{digest}.wasm"));
        if !wasm.exists() {
            write_atomically(&wasm, bytes)?;
        }
        self.load(&digest)
    }

    fn load(&self, digest: &str) -> Result<Arc<Loaded>> {
        anyhow::ensure!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()), "not a digest: {digest}");
        let wasm = self.dir.join(format!("{digest}.wasm"));
        let cwasm = self.dir.join(format!("{digest}.cwasm"));
        let size = std::fs::metadata(&wasm).with_context(|| format!("component {digest} is not in the pool"))?.len();
        // SAFETY: `.cwasm` files in the pool are written only by `compile` below, from bytes
        // this engine compiled; wasmtime also checks that the artifact fits this engine.
        let component = match unsafe { Component::deserialize_file(&self.engine, &cwasm) } {
            Ok(component) => component,
            Err(e) => {
                if cwasm.exists() {
                    tracing::warn!(%digest, error = %e, "compiled artifact unusable; compiling again");
                }
                self.compile(&wasm, &cwasm)?
            }
        };
        let pre = ProxyPre::new(self.linker.instantiate_pre(&component)?)
            .map_err(|e| anyhow::anyhow!("component {digest} is not a wasi:http proxy: {e}"))?;
        let loaded = Arc::new(Loaded { digest: digest.to_string(), size: size as usize, pre });
        self.loaded.write().unwrap().insert(digest.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Adds a component a user uploaded, after checking it is one Marquee can run: a
    /// component (not a core module) that imports only platform and WASI interfaces and
    /// exports `wasi:http/incoming-handler`. Compiled here, from the Wasm bytes; nothing
    /// native that a user sent is ever loaded. Slow: call off the async workers.
    pub fn upload(&self, bytes: &[u8]) -> Result<(Arc<Loaded>, &'static str), UploadError> {
        let digest = digest_of(bytes);
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00]) => {}
            Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => {
                return Err(UploadError("this is a core Wasm module; upload a component (e.g. built for wasm32-wasip2)".into()));
            }
            _ => return Err(UploadError("not a WebAssembly component".into())),
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| UploadError(format!("invalid component: {e}")))?;
        let engine = &self.engine;
        let imports: Vec<String> = component.component_type().imports(engine).map(|(name, _)| name.to_string()).collect();
        if let Some(foreign) = imports.iter().find(|i| !ALLOWED_IMPORTS.iter().any(|p| i.starts_with(p))) {
            return Err(UploadError(format!("imports {foreign}, which no Marquee world allows")));
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| UploadError(format!("cannot link: {e}")))?;
        ProxyPre::new(pre).map_err(|_| UploadError("does not export wasi:http/incoming-handler@0.2".into()))?;
        let world = world_of(&imports);
        if let Some(loaded) = self.loaded.read().unwrap().get(&digest) {
            return Ok((loaded.clone(), world));
        }
        let artifact = component.serialize().map_err(|e| UploadError(format!("could not store the compiled component: {e}")))?;
        let stored = write_atomically(&self.dir.join(format!("{digest}.wasm")), bytes)
            .and_then(|()| write_atomically(&self.dir.join(format!("{digest}.cwasm")), &artifact))
            .and_then(|()| self.load(&digest));
        stored.map(|loaded| (loaded, world)).map_err(|e| UploadError(format!("could not store the component: {e:#}")))
    }

    fn compile(&self, wasm: &Path, cwasm: &Path) -> Result<Component> {
        let bytes = std::fs::read(wasm)?;
        let started = std::time::Instant::now();
        let artifact = self.engine.precompile_component(&bytes)?;
        write_atomically(cwasm, &artifact)?;
        tracing::info!(component = %wasm.display(), ms = started.elapsed().as_millis() as u64, "compiled");
        // SAFETY: the artifact was produced just now by this engine.
        Ok(unsafe { Component::deserialize_file(&self.engine, cwasm) }?)
    }
}

impl Components for Pool {
    type Compiled = Loaded;

    /// The loaded component with this digest, loading its artifact from disk if needed.
    fn get(&self, digest: &str) -> Result<Arc<Loaded>> {
        if let Some(loaded) = self.loaded.read().unwrap().get(digest) {
            return Ok(loaded.clone());
        }
        self.load(digest)
    }

    fn install(&self, bytes: &[u8]) -> Result<()> {
        self.add(bytes).map(drop)
    }

    fn bytes(&self, digest: &str) -> Result<Vec<u8>> {
        let wasm = self.dir.join(format!("{digest}.wasm"));
        std::fs::read(&wasm).with_context(|| format!("component {digest} is not in the pool"))
    }

    fn builtins(&self) -> impl Iterator<Item = (&str, &str)> {
        self.builtins.iter().map(|(n, d)| (n.as_str(), d.as_str()))
    }

    fn builtin_digest(&self, name: &str) -> Option<&str> {
        self.builtins.get(name).map(String::as_str)
    }
}
