//! Deployments: the process's state ([`App`]), its live performances (namespaces, their
//! pinned specs, the registry), deploy / patch / delete, the fair scheduling of their work, the
//! history of their metrics, and why a change was refused ([`DeployError`], which the
//! control plane answers in the API's error shape). It sees compiled components only through
//! [`Components`] and speaks no HTTP: the HTTP trigger (`marquee-trigger-http`)
//! and the control plane (`marquee-control`) serve it; neither depends on the other.

mod app;
mod components;
mod error;
pub mod fair;
mod history;
mod mirror;
mod namespace;

pub use app::{Actor, App, Part, SERVING_REPORT_INTERVAL, Settings, lock_data_dir};
pub use components::Components;
pub use error::DeployError;
pub use history::{Counters, History, parse_duration};
pub use marquee_store::clock;
pub use mirror::{Mirror, Refused};
pub use namespace::{Guest, Limits, MAX_INSTANCE_MEMORY, Namespace, Registry, Route, Shared, Slots, Spec, Touched, running_permits};
