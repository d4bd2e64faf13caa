//! Prometheus metrics per function and per namespace, served at `GET /metrics`. Labels are
//! bounded: namespace, function, status code, trap kind; never a user.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use prometheus::{
    Counter, CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Request durations from 100 µs to 10 s.
const DURATION_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Instantiation from 10 µs to 100 ms.
const INSTANTIATION_BUCKETS: &[f64] = &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1];

/// The platform's Prometheus metrics, served at `/metrics`: per function and per performance, labelled by namespace (and function) only, so their number is bounded by what is deployed.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    instantiation: HistogramVec,
    traps: IntCounterVec,
    memory_peak: IntGaugeVec,
    in_flight: IntGaugeVec,
    queued: IntGaugeVec,
    cpu: CounterVec,
    background: IntGaugeVec,
    holds: IntCounterVec,
    orders: IntCounterVec,
    tickets: IntCounterVec,
    cancellations: IntCounterVec,
    /// Live performances.
    pub performances: IntGauge,
    /// Refunds the provider failed and that are being retried.
    pub refunds_pending: IntGauge,
    /// Refund attempts the payment provider failed (each is retried).
    pub refund_failures: IntCounter,
    /// When the last backup was written whole (seconds since the Unix epoch), and its size.
    backup_time: IntGauge,
    backup_bytes: IntGauge,
    seen: Arc<Seen>,
}

/// Label sets in use per namespace, so a deleted performance's series can go.
#[derive(Default)]
struct Seen(Mutex<HashMap<String, BTreeSet<Vec<String>>>>);

impl Seen {
    fn note(&self, namespace: &str, labels: &[&str]) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.entry(namespace.to_string()).or_default().insert(labels.iter().map(|s| s.to_string()).collect());
    }
}

/// One function's handles, resolved once when its namespace is built.
pub struct FunctionMetrics {
    namespace: String,
    function: String,
    requests: IntCounterVec,
    /// Counters by status, resolved on first use: the hot path is one read lock.
    by_status: RwLock<HashMap<u16, IntCounter>>,
    seen: Arc<Seen>,
    /// Request durations.
    pub duration: Histogram,
    /// 5xx answers.
    pub errors: IntCounter,
    /// Instantiation times.
    pub instantiation: Histogram,
    /// The largest linear memory an instance of it reached.
    pub memory_peak: IntGauge,
    /// Requests it is answering now.
    pub in_flight: IntGauge,
}

/// One namespace's share of the CPU, as the scheduler charges it.
pub struct CpuMetrics {
    /// CPU seconds its requests used.
    pub seconds: Counter,
    /// 1 while it runs in the background (it used more than its share lately), else 0.
    pub background: IntGauge,
}

/// One namespace's commerce counters, resolved once.
#[derive(Clone)]
pub struct SalesMetrics {
    /// Holds made.
    pub holds: IntCounter,
    /// Orders confirmed.
    pub orders: IntCounter,
    /// Tickets sold.
    pub tickets: IntCounter,
    /// Orders cancelled.
    pub cancellations: IntCounter,
}

/// The series of what sellers sell, kept out of a public scrape.
const SALES_FAMILIES: [&str; 4] = ["marquee_holds_total", "marquee_orders_total", "marquee_tickets_sold_total", "marquee_cancellations_total"];

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry.register(Box::new(metric.clone())).expect("metric names are unique");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let function = &["namespace", "function"];
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(&r, IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            register(&r, IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            register(&r, HistogramVec::new(opts, function).expect("valid metric"))
        };
        Self {
            requests: counter(
                "marquee_function_requests_total",
                "Requests answered, by function and HTTP status",
                &["namespace", "function", "status"],
            ),
            errors: register(
                &r,
                IntCounterVec::new(Opts::new("marquee_function_errors_total", "5xx answers by function"), function)
                    .expect("valid metric"),
            ),
            duration: histogram(
                "marquee_function_duration_seconds",
                "Time from dispatch to the function's response head",
                DURATION_BUCKETS,
            ),
            instantiation: histogram(
                "marquee_function_instantiation_seconds",
                "Time to instantiate a function for one request",
                INSTANTIATION_BUCKETS,
            ),
            traps: counter(
                "marquee_function_traps_total",
                "Requests whose function trapped (kind: trap, timeout, memory)",
                &["namespace", "function", "kind"],
            ),
            memory_peak: gauge(
                "marquee_function_memory_peak_bytes",
                "Largest linear memory one instance of the function grew to",
                function,
            ),
            in_flight: gauge("marquee_function_in_flight", "Instances running now", function),
            queued: gauge("marquee_namespace_queued", "Requests waiting for an instance slot", &["namespace"]),
            cpu: register(
                &r,
                CounterVec::new(
                    Opts::new("marquee_namespace_cpu_seconds_total", "Time spent running the namespace's instances"),
                    &["namespace"],
                )
                .expect("valid metric"),
            ),
            background: gauge(
                "marquee_namespace_background",
                "1 while the namespace is over its fair share of the CPU and runs at background priority",
                &["namespace"],
            ),
            holds: counter(SALES_FAMILIES[0], "Holds placed", &["namespace"]),
            orders: counter(SALES_FAMILIES[1], "Orders confirmed", &["namespace"]),
            tickets: counter(SALES_FAMILIES[2], "Seats, units and goods sold", &["namespace"]),
            cancellations: counter(SALES_FAMILIES[3], "Orders cancelled", &["namespace"]),
            performances: register(&r, IntGauge::new("marquee_performances", "Live performances").expect("valid metric")),
            refunds_pending: register(
                &r,
                IntGauge::new("marquee_refunds_pending", "Refunds the payment provider failed, retried until they go through").expect("valid metric"),
            ),
            refund_failures: register(
                &r,
                IntCounter::new("marquee_refund_failures_total", "Refund attempts the payment provider failed").expect("valid metric"),
            ),
            backup_time: register(
                &r,
                IntGauge::new("marquee_last_backup_timestamp_seconds", "When the last backup was written whole").expect("valid metric"),
            ),
            backup_bytes: register(&r, IntGauge::new("marquee_last_backup_size_bytes", "The size of the last backup written whole").expect("valid metric")),
            registry: r,
            seen: Arc::default(),
        }
    }
}

impl FunctionMetrics {
    /// Counts one answer.
    pub fn count(&self, status: u16) {
        if let Some(counter) = self.by_status.read().unwrap_or_else(|e| e.into_inner()).get(&status) {
            counter.inc();
            return;
        }
        let code = status.to_string();
        let labels = [self.namespace.as_str(), self.function.as_str(), code.as_str()];
        self.seen.note(&self.namespace, &labels);
        let counter = self.requests.with_label_values(&labels);
        counter.inc();
        self.by_status.write().unwrap_or_else(|e| e.into_inner()).insert(status, counter);
    }
}

impl Metrics {
    /// A backup of `bytes` was written whole, now.
    pub fn backup_written(&self, bytes: u64) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.backup_time.set(now as i64);
        self.backup_bytes.set(bytes as i64);
    }

    fn note(&self, namespace: &str, labels: &[&str]) {
        self.seen.note(namespace, labels);
    }

    /// A function's handles (registers its series).
    pub fn function(&self, namespace: &str, function: &str) -> FunctionMetrics {
        self.note(namespace, &[namespace, function]);
        let labels = [namespace, function];
        FunctionMetrics {
            namespace: namespace.to_string(),
            function: function.to_string(),
            requests: self.requests.clone(),
            by_status: RwLock::default(),
            seen: self.seen.clone(),
            duration: self.duration.with_label_values(&labels),
            errors: self.errors.with_label_values(&labels),
            instantiation: self.instantiation.with_label_values(&labels),
            memory_peak: self.memory_peak.with_label_values(&labels),
            in_flight: self.in_flight.with_label_values(&labels),
        }
    }

    /// A performance's sales counters.
    pub fn sales(&self, namespace: &str) -> SalesMetrics {
        self.note(namespace, &[namespace]);
        SalesMetrics {
            holds: self.holds.with_label_values(&[namespace]),
            orders: self.orders.with_label_values(&[namespace]),
            tickets: self.tickets.with_label_values(&[namespace]),
            cancellations: self.cancellations.with_label_values(&[namespace]),
        }
    }

    /// A performance's queue gauge: requests waiting for a slot.
    pub fn queued(&self, namespace: &str) -> IntGauge {
        self.queued.with_label_values(&[namespace])
    }

    /// A performance's CPU handles.
    pub fn cpu(&self, namespace: &str) -> CpuMetrics {
        self.note(namespace, &[namespace]);
        CpuMetrics {
            seconds: self.cpu.with_label_values(&[namespace]),
            background: self.background.with_label_values(&[namespace]),
        }
    }

    /// Counts a trap of a function, by kind (`timeout`, `memory`, `trap`).
    pub fn trap(&self, namespace: &str, function: &str, kind: &str) {
        let labels = [namespace, function, kind];
        self.note(namespace, &labels);
        self.traps.with_label_values(&labels).inc();
    }

    /// Drops every series of a namespace that is gone.
    pub fn forget(&self, namespace: &str) {
        let Some(sets) = self.seen.0.lock().unwrap_or_else(|e| e.into_inner()).remove(namespace) else { return };
        for labels in sets {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            match labels.len() {
                1 => {
                    for vec in [&self.holds, &self.orders, &self.tickets, &self.cancellations] {
                        let _ = vec.remove_label_values(&labels);
                    }
                    let _ = self.queued.remove_label_values(&labels);
                    let _ = self.cpu.remove_label_values(&labels);
                    let _ = self.background.remove_label_values(&labels);
                }
                2 => {
                    let _ = self.duration.remove_label_values(&labels);
                    let _ = self.errors.remove_label_values(&labels);
                    let _ = self.instantiation.remove_label_values(&labels);
                    let _ = self.memory_peak.remove_label_values(&labels);
                    let _ = self.in_flight.remove_label_values(&labels);
                }
                _ => {
                    let _ = self.requests.remove_label_values(&labels);
                    let _ = self.traps.remove_label_values(&labels);
                }
            }
        }
    }

    /// The text exposition format; `with_sales` adds what sellers sell, which is not public.
    pub fn render(&self, with_sales: bool) -> String {
        let mut families = self.registry.gather();
        if !with_sales {
            families.retain(|f| !SALES_FAMILIES.contains(&f.name()));
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out).expect("encoding to a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
