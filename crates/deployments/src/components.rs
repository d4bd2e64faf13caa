//! The compiled components performances run, as deployments see them: a deploy pins each
//! function to a digest and resolves every route to its compiled component; the HTTP trigger
//! instantiates it. The Wasm host's pool (`marquee-host`) is the one implementation.

use std::sync::Arc;

use anyhow::Result;

/// The component pool as deployments see it: compiled components by digest, and the built-ins.
pub trait Components: Send + Sync + 'static {
    /// A compiled component, ready to instantiate for a request.
    type Compiled: Send + Sync + 'static;

    /// The compiled component of `digest`, compiling its stored bytes if need be.
    fn get(&self, digest: &str) -> Result<Arc<Self::Compiled>>;
    /// Keeps and compiles component bytes (another process's upload, read from the store).
    fn install(&self, bytes: &[u8]) -> Result<()>;
    /// The bytes of the component of `digest`.
    fn bytes(&self, digest: &str) -> Result<Vec<u8>>;
    /// The components built into this binary: (name, digest).
    fn builtins(&self) -> impl Iterator<Item = (&str, &str)>;
    /// The digest of the built-in component `name`.
    fn builtin_digest(&self, name: &str) -> Option<&str>;
}
