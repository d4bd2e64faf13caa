//! Marquee's Prometheus metrics, served at `GET /metrics`: per function, per namespace and
//! for the platform, with bounded labels (namespace, function, status, trap kind; never a user).

mod metrics;

pub use metrics::{CpuMetrics, FunctionMetrics, Metrics, SalesMetrics};
