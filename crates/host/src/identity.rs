//! `marquee:platform/identity`: who sent the request, as the trigger verified it from
//! credentials it then removed from the request.

use crate::bindings::identity::{self, Principal};

pub struct Identity {
    pub caller: Result<Principal, identity::Error>,
}

impl identity::Host for Identity {
    fn caller(&mut self) -> wasmtime::Result<Result<Principal, identity::Error>> {
        Ok(self.caller.clone())
    }
}
