//! `marquee:platform/config`: the namespace's name and its parameters.

use std::sync::Arc;

use crate::bindings::config;

/// Built once per deployed version and shared by its requests.
#[derive(Clone)]
pub struct Config {
    /// The performance's name.
    pub namespace: Arc<str>,
    /// The parameters as JSON.
    pub params: Arc<str>,
}

impl config::Host for Config {
    fn namespace(&mut self) -> wasmtime::Result<String> {
        Ok(self.namespace.to_string())
    }

    fn params(&mut self) -> wasmtime::Result<String> {
        Ok(self.params.to_string())
    }
}
