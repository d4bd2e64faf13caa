//! End-to-end tests: each starts the real `marquee` binary and talks HTTP to it.

mod backup;
mod booking;
mod border;
mod browser;
mod cli;
mod desk;
mod door;
mod identity;
mod isolation;
mod kits;
mod kube;
mod mail;
mod metrics;
mod posters;
mod readme;
mod redis;
mod spine;
mod split;
mod schema;
mod testkit;
mod trust;
