//! `marquee:platform/log`: a guest's log lines, tagged with where they came from.

use std::sync::Arc;

use crate::bindings::log;

/// What a guest's log lines are tagged with.
pub struct Log {
    /// The performance.
    pub namespace: Arc<str>,
    /// The function.
    pub function: Arc<str>,
}

impl log::Host for Log {
    fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let (ns, function) = (&*self.namespace, &*self.function);
        match level {
            log::Level::Debug => tracing::debug!(target: "guest", ns, function, "{message}"),
            log::Level::Info => tracing::info!(target: "guest", ns, function, "{message}"),
            log::Level::Warn => tracing::warn!(target: "guest", ns, function, "{message}"),
            log::Level::Error => tracing::error!(target: "guest", ns, function, "{message}"),
        }
        Ok(())
    }
}
