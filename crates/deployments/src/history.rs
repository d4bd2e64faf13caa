//! Recent history for the console: every few seconds a sampler records the function counters
//! and sales of each namespace that may have changed into a ring buffer (an hour), and range
//! queries turn consecutive states into rates, latency percentiles and sales over time. An
//! idle namespace costs the sampler nothing: its last sample stands for its state since.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use prometheus::core::Metric;
use serde_json::{Value, json};

use marquee_store::Money;
use marquee_telemetry::FunctionMetrics;
use marquee_ticketing::Counted;
use crate::namespace::{Namespace, Registry, Touched};

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
    /// Per section, summed over sessions, and the money of every session.
    sales: Vec<Counted>,
    money: Money,
}

/// The console's recent metrics of each performance, sampled each interval where they may have changed.
pub struct History {
    /// Each deployment's samples, oldest first; a new one only when it may have changed.
    by_deployment: Mutex<HashMap<String, VecDeque<Sample>>>,
    /// Performances whose last sample held seats: sampled again until none are held.
    holding: Mutex<Vec<String>>,
    /// When the sampler last ran: every performance not sampled then was as last sampled.
    last_run_ms: AtomicU64,
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
    Publish(std::sync::Arc<dyn marquee_store::SharedStore>),
    /// The control plane adds every runtime's counters from the shared store to its own.
    Merge(std::sync::Arc<dyn marquee_store::SharedStore>),
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
        Self { by_deployment: Mutex::default(), holding: Mutex::default(), last_run_ms: AtomicU64::new(0), keep, counters, process }
    }

    /// Records a sample of each performance that may have changed since the last: those that
    /// served a request (`touched`) and those holding seats, whose holds lapse on their own.
    /// A control plane merging other processes' counters cannot see their requests, so it
    /// samples every live performance.
    pub async fn sample<F>(&self, registry: &Registry<F>, touched: &Touched) {
        let at_ms = crate::clock::now_ms();
        let live = match &self.counters {
            Counters::Merge(_) => registry.all(),
            Counters::Alone | Counters::Publish(_) => {
                let mut names = touched.take();
                names.extend(std::mem::take(&mut *self.holding.lock().unwrap_or_else(|e| e.into_inner())));
                names.sort_unstable();
                names.dedup();
                names.iter().filter_map(|name| registry.get(name)).collect()
            }
        };
        // Read the stores first: the map's lock is not held across a wait.
        let mut samples = Vec::with_capacity(live.len());
        for ns in &live {
            // Cleared before the reads: a request from now on marks it again.
            ns.slots.touched.store(false, Relaxed);
            let mut functions = HashMap::new();
            for route in &ns.routes {
                functions.entry(route.function.to_string()).or_insert_with(|| function_sample(&route.metrics));
            }
            if let Err(e) = self.share(ns, &mut functions).await {
                tracing::warn!(ns = %ns.name, error = %format!("{e:#}"), "could not share function counters");
            }
            match ns.inventory.report().await {
                Ok(sales) => samples.push((ns, functions, sales)),
                Err(e) => {
                    tracing::warn!(ns = %ns.name, error = %format!("{e:#}"), "could not sample sales");
                    touched.touch(&ns.slots.touched, &ns.name);
                }
            }
        }
        let previous_run = self.last_run_ms.swap(at_ms, Relaxed);
        let mut holding = self.holding.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = self.by_deployment.lock().unwrap_or_else(|e| e.into_inner());
        for (ns, functions, report) in samples {
            let (sales, money) = (report.sections(), report.money());
            if sales.iter().any(|c| c.held > 0) {
                holding.push(ns.name.clone());
            }
            let ring = map.entry(ns.deployment.clone()).or_default();
            // Unsampled since: it was as last sampled until the previous run, so the rate over
            // the last interval is measured from that state, not spread over the idle time.
            if let Some(last) = ring.back().filter(|last| last.at_ms < previous_run && previous_run < at_ms) {
                let carried = Sample { at_ms: previous_run, ..last.clone() };
                ring.push_back(carried);
            }
            ring.push_back(Sample { at_ms, functions, sales, money });
            // An idle performance's last sample is its state now, however old.
            let oldest = at_ms.saturating_sub(KEPT.as_millis() as u64);
            while ring.len() > self.keep || (ring.len() > 1 && ring[1].at_ms <= oldest) {
                ring.pop_front();
            }
        }
    }

    /// Drops a deployment's history: it is no longer served here.
    pub fn forget(&self, deployment: &str) {
        self.by_deployment.lock().unwrap_or_else(|e| e.into_inner()).remove(deployment);
    }

    /// With a shared store, a runtime writes its counters there and the control plane adds
    /// every runtime's to its own, so the console's history counts all of a performance's
    /// requests wherever they were served.
    async fn share<F>(&self, ns: &Namespace<F>, functions: &mut HashMap<String, FunctionSample>) -> anyhow::Result<()> {
        let shared = match &self.counters {
            Counters::Alone => return Ok(()),
            Counters::Publish(shared) => {
                let counters = functions.iter().map(|(name, f)| Ok((name.clone(), serde_json::to_string(f)?))).collect::<anyhow::Result<Vec<_>>>()?;
                return shared.put_counters(&ns.deployment, &self.process, &counters).await;
            }
            Counters::Merge(shared) => shared,
        };
        for (_, name, value) in shared.counters(&ns.deployment, &self.process).await? {
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
        // A performance is sampled only when it may have changed, so its state at any instant
        // is its newest sample before it. One point per step: the newest sample in the step's
        // window, else the state carried to the window's end (known up to the last run).
        let known_until = self.last_run_ms.load(Relaxed);
        let mut picked: Vec<(u64, &Sample)> = Vec::new();
        let (mut next, mut latest) = (ring.iter().peekable(), None);
        for k in 0..=(now - from) / step_ms {
            let end = from + (k + 1) * step_ms;
            // Samples of the step before `from` count as its first window.
            let start = if k == 0 { from.saturating_sub(step_ms) } else { end - step_ms };
            let mut in_window = None;
            while let Some(sample) = next.next_if(|s| s.at_ms < end) {
                latest = Some(sample);
                in_window = Some(sample).filter(|s| s.at_ms >= start);
            }
            match (in_window, latest) {
                (Some(sample), _) => picked.push((sample.at_ms, sample)),
                (None, Some(carried)) => {
                    let t = (end - 1).min(known_until);
                    if t >= start && picked.last().is_none_or(|(last, _)| *last < t) {
                        picked.push((t, carried));
                    }
                }
                (None, None) => {}
            }
        }
        let mut functions: HashMap<String, Vec<Value>> = HashMap::new();
        for pair in picked.windows(2) {
            let ((a_ms, a), (b_ms, b)) = (pair[0], pair[1]);
            let seconds = (b_ms - a_ms) as f64 / 1e3;
            for (name, now) in &b.functions {
                let Some(before) = a.functions.get(name) else { continue };
                let delta: Vec<(f64, u64)> =
                    now.buckets.iter().zip(&before.buckets).map(|(n, p)| (n.0, n.1.saturating_sub(p.1))).collect();
                functions.entry(name.clone()).or_default().push(json!({
                    "t": b_ms,
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
            .map(|(t, s)| {
                let sections: Vec<Value> = s
                    .sales
                    .iter()
                    .map(|c| json!({"name": c.name, "sold": c.sold, "held": c.held, "free": c.capacity.saturating_sub(c.held + c.sold)}))
                    .collect();
                json!({"t": t, "sections": sections, "gross": s.money.gross, "refunded": s.money.refunded})
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

    #[test]
    fn an_unsampled_stretch_reads_as_the_state_last_sampled() {
        let history = History::new(Duration::from_secs(5), Counters::Alone, "test".into());
        let now = crate::clock::now_ms();
        let sample = |ago_s: u64, requests: u64, sold: u32| {
            let function = FunctionSample { requests, errors: 0, buckets: vec![(0.01, requests)], memory_peak: 0, in_flight: 0 };
            let sales = vec![Counted { name: "A".into(), capacity: 10, held: 0, sold }];
            Sample { at_ms: now - ago_s * 1000, functions: [("listing".to_string(), function)].into(), sales, money: Money { gross: u64::from(sold) * 100, refunded: 0 } }
        };
        // Sampled 50 s ago, then idle until 20 s ago, when 30 requests sold a seat.
        let ring = VecDeque::from([sample(50, 10, 1), sample(25, 10, 1), sample(20, 40, 2)]);
        history.by_deployment.lock().unwrap().insert("d".into(), ring);
        history.last_run_ms.store(now - 2_000, Relaxed);
        let series = history.query("d", Duration::from_secs(60), Duration::from_secs(10));
        let sales = series["sales"].as_array().unwrap();
        let t: Vec<u64> = sales.iter().map(|p| p["t"].as_u64().unwrap()).collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]) && *t.last().unwrap() <= now - 2_000, "{t:?}");
        assert!(sales.len() >= 5, "a point per step from the first sample on, carried or not: {t:?}");
        let sold: Vec<u64> = sales.iter().map(|p| p["sections"][0]["sold"].as_u64().unwrap()).collect();
        assert_eq!((sold[0], *sold.last().unwrap()), (1, 2), "{sold:?}");
        let gross: Vec<u64> = sales.iter().map(|p| p["gross"].as_u64().unwrap()).collect();
        assert_eq!((gross[0], *gross.last().unwrap()), (100, 200), "the money over time: {gross:?}");
        let rates: Vec<f64> = series["functions"]["listing"].as_array().unwrap().iter().map(|p| p["requests_per_second"].as_f64().unwrap()).collect();
        assert_eq!(rates.iter().filter(|r| **r > 0.0).count(), 1, "only the step with the requests has a rate: {rates:?}");
        assert!(history.query("gone", Duration::from_secs(60), Duration::from_secs(10))["sales"].as_array().unwrap().is_empty());
    }
}
