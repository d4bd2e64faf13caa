//! The `marquee` binary's library: the listener that puts the HTTP trigger and the control
//! plane on one port, the CLI's client, and the built-in components it bundles.

pub mod cli;
pub(crate) mod parse_errors;
pub mod server;

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
