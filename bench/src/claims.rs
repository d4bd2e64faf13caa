//! The Redis claim store alone: how many orders per second it acknowledges durably (hold, start
//! of payment, commit: three script calls each) on one performance, from 64 buyers over one
//! multiplexed connection each for two runtimes, against a `redis-server` started here with
//! `appendonly yes`, `appendfsync always`. It bounds what runtimes sharing one Redis can sell.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use marquee_store::{ClaimStore, ConfirmStart, HoldOutcome, HoldRequest};
use marquee_store_redis::{Durability, LocalRedis, RedisStore};

use crate::client::{ms, percentile};

const BUYERS: usize = 64;
const SEATS: usize = 50_000;
const SECONDS: u64 = 10;

pub(crate) async fn run() -> Result<()> {
    let redis = LocalRedis::start("bench", "always")?;
    sell(&redis.url()).await
}

async fn sell(url: &str) -> Result<()> {
    // Two connections, as two runtime processes would have.
    let runtimes = [
        Arc::new(RedisStore::connect(url, Durability::Required).await?.claims("sale", 600_000)),
        Arc::new(RedisStore::connect(url, Durability::Required).await?.claims("sale", 600_000)),
    ];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SECONDS);
    let tasks: Vec<_> = (0..BUYERS)
        .map(|buyer| {
            let store = runtimes[buyer % 2].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut seat = buyer;
                while seat < SEATS && Instant::now() < deadline {
                    let t = Instant::now();
                    let id = format!("h{seat}");
                    let request = HoldRequest {
                        session: "s1".into(),
                        hold_id: id.clone(),
                        buyer: format!("b{buyer}"),
                        address: None,
                        seats: vec![format!("R-{}-{}", seat / 100 + 1, seat % 100 + 1)],
                        units: Vec::new(),
                        tickets: 1,
                        buyer_limit: 10_000,
                        unpaid: 1,
                        address_cap: 0,
                        ttl_ms: 600_000,
                        amount: 5000,
                        key: Some((format!("k{seat}"), "fp".into())),
                        payload: String::new(),
                    };
                    anyhow::ensure!(matches!(store.hold(&request).await?, HoldOutcome::Held(_)), "seat {seat} not held");
                    anyhow::ensure!(matches!(store.begin_confirm(&id, &request.buyer, 60_000).await?, ConfirmStart::Ready(_)));
                    anyhow::ensure!(store.commit_confirm(&id, &format!("o{seat}"), 1, "{}").await?, "order {seat} lost");
                    latencies.push(t.elapsed());
                    seat += BUYERS;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let sold = runtimes[0].live_orders().await?.len();
    anyhow::ensure!(sold == latencies.len(), "{sold} orders stored, {} acknowledged", latencies.len());
    println!(
        "redis claims (appendfsync always), {BUYERS} buyers over 2 connections: {} orders in {:.1} s = {:.0} orders/s; order p50={:.2} ms p99={:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
    );
    Ok(())
}
