//! The embedded store, what `marquee up` runs on without `--store`: one process owns its data
//! dir. `db` is the SQLite database (accounts, performances, uploads, check-ins, `kv`) with
//! the [`marquee_store::KeyValue`] and [`marquee_store::Identity`] backends over it; `orders`
//! the group-committed order log; `claims` the [`marquee_store::ClaimStore`] in memory over
//! that log; `outbox` the [`marquee_store::Outbox`], whose messages that log's writer commits.

mod backend;
mod buckets;
mod claims;
mod db;
mod orders;
mod outbox;
mod snapshot;
mod sqlite;

pub use backend::{move_catalog, open};
pub use buckets::LocalBuckets;

/// A fresh temp dir for a test, removed when dropped.
#[cfg(any(test, feature = "testing"))]
pub struct TestDir(pub std::path::PathBuf);

#[cfg(any(test, feature = "testing"))]
impl TestDir {
    /// A new empty dir, named for what uses it.
    pub fn new(name: &str) -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("marquee-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

#[cfg(any(test, feature = "testing"))]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
