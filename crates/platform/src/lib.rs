//! What both roles of a Marquee process serve: the process's state ([`app::App`]), its
//! performances (namespaces) and their inventories, identity, templates, rate limits, metrics,
//! and the one error shape. The HTTP trigger (`marquee-trigger-http`) and the control plane
//! (`marquee-control`) are built on it; neither depends on the other.

pub mod app;
pub mod components;
pub mod error;
pub mod fair;
pub mod history;
pub mod mirror;
pub mod namespace;

pub use marquee_store::clock;
