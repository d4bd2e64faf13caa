//! The store conformance suite on a real `redis-server`, started here in a temp dir with the
//! settings a durable store needs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee_store_redis::{Durability, RedisStore};

/// A `redis-server` of this test's own, on a Unix socket in a temp dir: no port to race for.
struct Redis {
    child: Child,
    dir: PathBuf,
}

impl Redis {
    fn start(fsync: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("marquee-redis-{}-{fsync}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(dir.join("redis.sock"))
            .arg("--dir")
            .arg(&dir)
            .args(["--appendonly", "yes", "--appendfsync", fsync, "--save", ""])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        let started = Instant::now();
        while !dir.join("redis.sock").exists() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, dir }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.dir.join("redis.sock").display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_store_conformance_suite() {
    let redis = Redis::start("always");
    let store = RedisStore::connect(&redis.url(), Durability::Required).await.unwrap();
    marquee_store::conformance::run(|namespace, hold_ttl_ms| store.performance(namespace, hold_ttl_ms)).await;
}

#[tokio::test]
async fn a_redis_that_could_lose_orders_is_refused_unless_told_otherwise() {
    let redis = Redis::start("everysec");
    let refused = RedisStore::connect(&redis.url(), Durability::Required).await.err().expect("refused");
    assert!(format!("{refused:#}").contains("appendfsync everysec"), "{refused:#}");
    RedisStore::connect(&redis.url(), Durability::Relaxed).await.unwrap();
}
