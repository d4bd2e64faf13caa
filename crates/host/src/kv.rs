//! `marquee:platform/kv`: a key-value store scoped to one deployment.

use std::sync::Arc;

use marquee_store::KeyValue;

use crate::bindings::kv;

const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 1 << 20;

#[derive(Clone)]
/// One performance's keys, as its components see them.
pub struct Kv {
    /// The platform's key-value store.
    pub store: Arc<dyn KeyValue>,
    /// The deployment whose keys these are: a namespace deployed again starts empty.
    pub scope: Arc<str>,
}

impl kv::Host for Kv {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::Error>> {
        if key.len() > MAX_KEY {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.store.get(&self.scope, &key).await.map_err(unavailable))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), kv::Error>> {
        if key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.store.set(&self.scope, &key, &value).await.map_err(unavailable))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), kv::Error>> {
        if key.len() > MAX_KEY {
            return Ok(Err(kv::Error::TooLarge));
        }
        Ok(self.store.delete(&self.scope, &key).await.map_err(unavailable))
    }
}

/// A store fault, told to the guest without the store's internals (logged here instead).
fn unavailable(error: anyhow::Error) -> kv::Error {
    tracing::warn!(error = format!("{error:#}"), "kv store call failed");
    kv::Error::Unavailable("the store is unavailable; try again".into())
}
