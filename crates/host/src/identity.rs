//! `marquee:platform/identity`: who sent the request, as the trigger verified it from
//! credentials it then removed from the request.

use crate::bindings::identity::{self, Principal};

/// The verified caller of one request.
pub struct Identity {
    /// Who it is, or why there is no verified caller.
    pub caller: Result<Principal, identity::Error>,
}

impl identity::Host for Identity {
    fn caller(&mut self) -> wasmtime::Result<Result<Principal, identity::Error>> {
        Ok(self.caller.clone())
    }
}
