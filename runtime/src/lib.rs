//! The Marquee server: the HTTP trigger, namespaces and their inventories, and the control
//! plane, run by the `marquee` binary over the Wasm host (`marquee-host`) and a store. Its
//! public face is what the binary needs (the process and its settings, the listener, the CLI,
//! cluster mode's connection); the trigger, the control plane's routes and the rest stay inside.

pub(crate) mod api;
pub mod app;
pub(crate) mod auth;
pub mod cli;
pub mod cluster;
pub(crate) mod error;
pub(crate) mod fair;
pub(crate) mod history;
pub(crate) mod inventory;
pub mod limits;
pub(crate) mod metrics;
pub mod namespace;
pub(crate) mod parse_errors;
pub(crate) mod payments;
pub mod server;
pub(crate) mod templates;
pub(crate) mod trigger;

// The embedded store's modules, under the names the runtime has always used.
pub use marquee_store::clock;
pub use marquee_store_embedded::{claims, db, orders};
