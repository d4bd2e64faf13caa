//! Recent history for the console: every few seconds a sampler records each namespace's
//! function counters and sales into a ring buffer (an hour by default), and range queries
//! turn consecutive samples into rates, latency percentiles and sales over time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::Metric;
use serde_json::{Value, json};

use crate::metrics::FunctionMetrics;
use crate::namespace::Namespace;

/// How much history is kept.
const KEPT: Duration = Duration::from_secs(3600);

/// One function's counters at one instant (in one process, or summed over them).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct FunctionSample {
    requests: u64,
    errors: u64,
    /// Cumulative counts per duration bucket: (upper bound in seconds, count).
    buckets: Vec<(f64, u64)>,
    memory_peak: i64,
    in_flight: i64,
}

#[derive(Clone)]
struct Sample {
    at_ms: u64,
    functions: HashMap<String, FunctionSample>,
    /// Per section: (name, capacity, held, sold).
    sales: Vec<(String, u64, u64, u64)>,
}

pub struct History {
    by_deployment: Mutex<HashMap<String, VecDeque<Sample>>>,
    /// Samples kept per performance.
    keep: usize,
    counters: Counters,
    /// This process's run, under which a runtime writes its counters to a shared store.
    process: String,
}

/// Where this process's function counters meet the other processes'.
pub enum Counters {
    /// One process serves everything.
    Alone,
    /// A runtime writes its counters to the shared store.
    Publish(marquee_store_redis::RedisStore),
    /// The control plane adds every runtime's counters from the shared store to its own.
    Merge(marquee_store_redis::RedisStore),
}

impl FunctionSample {
    /// Adds another process's counters of the same function.
    fn add(&mut self, other: &FunctionSample) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.buckets.len() == other.buckets.len() {
            for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
                mine.1 += theirs.1;
            }
        }
        self.memory_peak = self.memory_peak.max(other.memory_peak);
        self.in_flight += other.in_flight;
    }
}

fn function_sample(m: &FunctionMetrics) -> FunctionSample {
    let proto = m.duration.metric();
    let histogram = proto.get_histogram();
    FunctionSample {
        requests: histogram.get_sample_count(),
        errors: m.errors.get(),
        buckets: histogram.get_bucket().iter().map(|b| (b.upper_bound(), b.cumulative_count())).collect(),
        memory_peak: m.memory_peak.get(),
        in_flight: m.in_flight.get(),
    }
}

/// The smallest bucket bound under which `q` of the samples fall, in milliseconds.
fn quantile_ms(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil() as u64;
    buckets.iter().find(|(_, count)| *count >= rank).map(|(bound, _)| bound * 1e3)
}

/// Parses `15m`, `30s`, `1h`: a whole number without a leading zero and a unit. A number too
/// large for a `u64` of seconds saturates, so what is refused is exactly what is misspelt.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    if number.is_empty() || number.starts_with('0') {
        return None;
    }
    let n: u64 = number.parse().unwrap_or(u64::MAX);
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

impl History {
    /// A history sampled every `interval`.
    pub fn new(interval: Duration, counters: Counters, process: String) -> Self {
        let keep = (KEPT.as_secs_f64() / interval.as_secs_f64()).ceil() as usize;
        Self { by_deployment: Mutex::default(), keep, counters, process }
    }

    /// Records one sample of every live performance, forgetting those no longer live.
    pub async fn sample(&self, live: &[Arc<Namespace>]) {
        let at_ms = crate::clock::now_ms();
        // Read the stores first: the map's lock is not held across a wait.
        let mut samples = Vec::with_capacity(live.len());
        for ns in live {
            let mut functions = HashMap::new();
            for route in &ns.routes {
                functions.entry(route.function.to_string()).or_insert_with(|| function_sample(&route.metrics));
            }
            if let Err(e) = self.share(ns, &mut functions).await {
                tracing::warn!(ns = %ns.name, error = %format!("{e:#}"), "could not share function counters");
            }
            match ns.inventory.sales().await {
                Ok(sales) => samples.push((ns, functions, sales)),
                Err(e) => tracing::warn!(ns = %ns.name, error = %format!("{e:#}"), "could not sample sales"),
            }
        }
        let mut map = self.by_deployment.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|deployment, _| live.iter().any(|ns| &ns.deployment == deployment));
        for (ns, functions, sales) in samples {
            let ring = map.entry(ns.deployment.clone()).or_default();
            ring.push_back(Sample { at_ms, functions, sales });
            while ring.len() > self.keep {
                ring.pop_front();
            }
        }
    }

    /// With a shared store, a runtime writes its counters there and the control plane adds
    /// every runtime's to its own, so the console's history counts all of a performance's
    /// requests wherever they were served.
    async fn share(&self, ns: &Namespace, functions: &mut HashMap<String, FunctionSample>) -> anyhow::Result<()> {
        let redis = match &self.counters {
            Counters::Alone => return Ok(()),
            Counters::Publish(redis) => {
                let counters = functions.iter().map(|(name, f)| Ok((name.clone(), serde_json::to_string(f)?))).collect::<anyhow::Result<Vec<_>>>()?;
                return redis.put_counters(&ns.deployment, &self.process, &counters).await;
            }
            Counters::Merge(redis) => redis,
        };
        for (_, name, value) in redis.counters(&ns.deployment, &self.process).await? {
            if let (Some(mine), Ok(theirs)) = (functions.get_mut(&name), serde_json::from_str::<FunctionSample>(&value)) {
                mine.add(&theirs);
            }
        }
        Ok(())
    }

    /// Rates and percentiles per function and sales per section, one point per `step`
    /// over the last `range`.
    pub fn query(&self, deployment: &str, range: Duration, step: Duration) -> Value {
        let map = self.by_deployment.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ring) = map.get(deployment) else { return json!({"functions": {}, "sales": []}) };
        let now = crate::clock::now_ms();
        let from = now.saturating_sub(range.as_millis() as u64);
        let step_ms = step.as_millis().max(1) as u64;
        // One sample per step: the last one in each step window.
        let mut picked: Vec<&Sample> = Vec::new();
        for sample in ring.iter().filter(|s| s.at_ms >= from.saturating_sub(step_ms)) {
            match picked.last() {
                // Samples of the step before `from` count as its first window.
                Some(last) if sample.at_ms.saturating_sub(from) / step_ms == last.at_ms.saturating_sub(from) / step_ms => {
                    *picked.last_mut().unwrap() = sample;
                }
                _ => picked.push(sample),
            }
        }
        let mut functions: HashMap<String, Vec<Value>> = HashMap::new();
        for pair in picked.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let seconds = (b.at_ms - a.at_ms) as f64 / 1e3;
            for (name, now) in &b.functions {
                let Some(before) = a.functions.get(name) else { continue };
                let delta: Vec<(f64, u64)> =
                    now.buckets.iter().zip(&before.buckets).map(|(n, p)| (n.0, n.1.saturating_sub(p.1))).collect();
                functions.entry(name.clone()).or_default().push(json!({
                    "t": b.at_ms,
                    "requests_per_second": (now.requests - before.requests) as f64 / seconds,
                    "errors_per_second": (now.errors - before.errors) as f64 / seconds,
                    "p50_ms": quantile_ms(&delta, 0.50),
                    "p99_ms": quantile_ms(&delta, 0.99),
                    "memory_peak_bytes": now.memory_peak,
                    "in_flight": now.in_flight,
                }));
            }
        }
        let sales: Vec<Value> = picked
            .iter()
            .map(|s| {
                let sections: Vec<Value> = s
                    .sales
                    .iter()
                    .map(|(name, capacity, held, sold)| {
                        json!({"name": name, "sold": sold, "held": held, "free": capacity - held - sold})
                    })
                    .collect();
                json!({"t": s.at_ms, "sections": sections})
            })
            .collect();
        json!({"functions": functions, "sales": sales, "step_seconds": step.as_secs_f64()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_quantiles() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("99999999999999999999h"), Some(Duration::from_secs(u64::MAX)));
        for bad in ["", "m", "15", "0s", "01m", "5d", "-1m", "1h5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let buckets = [(0.001, 50), (0.01, 99), (0.1, 100)];
        assert_eq!(quantile_ms(&buckets, 0.5), Some(1.0));
        assert_eq!(quantile_ms(&buckets, 0.99), Some(10.0));
        assert_eq!(quantile_ms(&[(0.001, 0)], 0.5), None);
    }
}
