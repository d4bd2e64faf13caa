//! The Marquee server: the HTTP trigger, namespaces and their inventories, and the control
//! plane, run by the `marquee` binary over the Wasm host (`marquee-host`) and a store.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod fair;
pub mod history;
pub mod inventory;
pub mod limits;
pub mod metrics;
pub mod namespace;
pub mod parse_errors;
pub mod payments;
pub mod server;
pub mod templates;
pub mod trigger;

// The embedded store's modules, under the names the runtime has always used.
pub use marquee_store::clock;
pub use marquee_store_embedded::{claims, db, orders};
