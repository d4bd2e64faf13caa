//! Deployments: the process's state ([`app::App`]), its live performances (namespaces, their
//! pinned specs, the registry), deploy / patch / delete, the fair scheduling of their work, the
//! history of their metrics, and why a change was refused ([`error::DeployError`], which the
//! control plane answers in the API's error shape). It sees compiled components only through
//! [`components::Components`] and speaks no HTTP: the HTTP trigger (`marquee-trigger-http`)
//! and the control plane (`marquee-control`) serve it; neither depends on the other.

pub mod app;
pub mod components;
pub mod error;
pub mod fair;
pub mod history;
pub mod mirror;
pub mod namespace;

pub use marquee_store::clock;
