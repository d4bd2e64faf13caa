//! Fair use of the CPU across namespaces, on two levels.
//!
//! Within the process, each namespace may run Wasm on at most a few instances at once (one per
//! core by default); an instance holds its namespace's run permit only while it is being
//! polled, and gives it back whenever it waits (an epoch-tick yield, a durable commit, a slow
//! client, a sleep). A flooded or spinning namespace so competes with itself for its permits.
//!
//! Across namespaces, every poll's time is charged to its namespace, up to a bound: a guest
//! yields at every epoch tick, so a poll much longer than that was mostly its worker waiting
//! for a core the operating system gave to another process, not the namespace's use. (Reading
//! the thread's CPU clock instead is a system call per poll, ~8% of the read path here.)
//! A namespace that takes more than its fair share of the cores while others also want CPU is demoted: its instances
//! and its clients' connections run on background workers at the operating system's idle
//! priority, which get only the CPU nobody in the foreground wants. Its neighbours' requests then never queue behind its flood;
//! once its use falls to half its share (or it is alone) it comes back to the foreground.
//!
//! Each tick walks only the namespaces that ran lately ([`Active`]): one enrols itself when
//! it is first charged and leaves once its smoothed use is gone, so a namespace nobody calls
//! costs no CPU however many exist.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use marquee_telemetry::CpuMetrics;

/// A future that is polled only while it holds a permit of `permits`, its polls charged to `usage`.
pub struct Gated<F> {
    inner: Pin<Box<F>>,
    usage: Arc<Usage>,
    permits: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    acquiring: Option<Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>>,
}

impl<F: Future> Gated<F> {
    /// Runs `inner` while holding one of `permits`, charging its polls to `usage`.
    pub fn new(inner: F, permits: Arc<Semaphore>, usage: Arc<Usage>) -> Self {
        Self { inner: Box::pin(inner), usage, permits, permit: None, acquiring: None }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if this.permit.is_none() {
            let acquiring = this.acquiring.get_or_insert_with(|| {
                let permits = this.permits.clone();
                // Semaphores are FIFO: the namespace's waiting instances take turns.
                Box::pin(async move { permits.acquire_owned().await.ok() })
            });
            match acquiring.as_mut().poll(cx) {
                Poll::Ready(permit) => {
                    this.permit = permit;
                    this.acquiring = None;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let started = Instant::now();
        let output = this.inner.as_mut().poll(cx);
        this.usage.charge(started.elapsed().min(MAX_POLL_CHARGE));
        if output.is_pending() {
            // Waiting is not running: the next of this namespace's instances may run.
            this.permit = None;
        }
        output
    }
}

/// How often the engine's epoch advances: the unit of a request's CPU budget and of a poll's
/// charge.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The most one poll is charged (see the module's comment).
const MAX_POLL_CHARGE: Duration = Duration::from_millis(2 * EPOCH_TICK.as_millis() as u64);

/// How often namespaces are moved between the foreground and the background.
pub const TICK: Duration = Duration::from_millis(10);
/// A namespace that used less than this per tick (smoothed) is not competing for CPU.
const ACTIVE_NANOS: u64 = 1_000;

/// The namespaces that ran lately: the only ones [`rebalance`] looks at.
#[derive(Default)]
pub struct Active(std::sync::Mutex<Vec<Arc<Usage>>>);

impl Active {
    /// How many namespaces are on the list.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One namespace's use of the CPU.
pub struct Usage {
    /// Nanoseconds spent polling the namespace's instances since the last tick.
    spent: AtomicU64,
    /// Nanoseconds per tick, smoothed over about four ticks.
    recent: AtomicU64,
    demoted: AtomicBool,
    /// Whether it is on `active`'s list (then it stays there until it has been idle a while).
    listed: AtomicBool,
    active: Arc<Active>,
    metrics: CpuMetrics,
}

impl Usage {
    /// A namespace's usage, reported in `metrics`, listed on `active` when it runs.
    pub fn new(metrics: CpuMetrics, active: Arc<Active>) -> Self {
        let (spent, recent) = (AtomicU64::new(0), AtomicU64::new(0));
        Self { spent, recent, demoted: AtomicBool::new(false), listed: AtomicBool::new(false), active, metrics }
    }

    /// Whether it runs in the background now (it used more than its share lately).
    pub fn demoted(&self) -> bool {
        self.demoted.load(Relaxed)
    }

    /// Charges one poll, enrolling the namespace among the active ones if it is not.
    fn charge(self: &Arc<Self>, spent: Duration) {
        self.spent.fetch_add(spent.as_nanos() as u64, Relaxed);
        // Whoever flips `listed` to true puts it on the list (here, or a tick keeping it).
        if !self.listed.load(Relaxed) && !self.listed.swap(true, Relaxed) {
            self.active.0.lock().unwrap_or_else(|e| e.into_inner()).push(self.clone());
        }
    }
}

/// Charges the last tick to each active namespace and decides which run in the background:
/// those above their fair share of `cores` while at least one other namespace is active.
/// Namespaces idle since a while leave the list.
pub fn rebalance(active: &Active, cores: u64) {
    let mut usages = active.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut active = 0;
    let spent: Vec<u64> = usages
        .iter()
        .map(|usage| {
            let spent = usage.spent.swap(0, Relaxed);
            if spent > 0 {
                usage.metrics.seconds.inc_by(spent as f64 / 1e9);
            }
            let recent = (usage.recent.load(Relaxed) * 3 + spent) / 4;
            usage.recent.store(recent, Relaxed);
            active += u64::from(recent >= ACTIVE_NANOS);
            spent
        })
        .collect();
    let share = cores * TICK.as_nanos() as u64 / active.max(1);
    for (usage, spent) in usages.iter().zip(spent) {
        let recent = usage.recent.load(Relaxed);
        // A flood is demoted on its first tick over the share, and promoted only once its use
        // is down to half of it: a namespace whose background share hovers near its fair
        // share does not flap between the two.
        let used = spent.max(recent);
        let demote = active >= 2 && if usage.demoted() { used > share / 2 } else { used > share };
        if demote != usage.demoted() {
            usage.demoted.store(demote, Relaxed);
            usage.metrics.background.set(i64::from(demote));
        }
    }
    usages.retain(|usage| {
        if usage.demoted() || usage.recent.load(Relaxed) >= ACTIVE_NANOS {
            return true;
        }
        usage.recent.store(0, Relaxed);
        usage.listed.store(false, Relaxed);
        // A poll charged since the swap above saw it listed and did not enrol it: keep it,
        // unless a poll after this store enrols it itself.
        usage.spent.load(Relaxed) > 0 && !usage.listed.swap(true, Relaxed)
    });
}

/// Where a piece of work (an instance, a connection) belongs at this moment.
pub trait Class: Send + Sync + 'static {
    /// Whether it runs in the background now.
    fn background(&self) -> bool;
}

impl Class for Usage {
    fn background(&self) -> bool {
        self.demoted()
    }
}

/// A connection's class: that of the namespace its latest request went to, so a demoted
/// namespace's clients are parsed and answered in the background too.
#[derive(Default)]
pub struct Follow(std::sync::Mutex<Option<Arc<Usage>>>);

impl Follow {
    /// Takes the class of the namespace whose usage this is.
    pub fn follow(&self, usage: &Arc<Usage>) {
        let mut current = self.0.lock().unwrap();
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, usage)) {
            *current = Some(usage.clone());
        }
    }
}

impl Class for Follow {
    fn background(&self) -> bool {
        self.0.lock().unwrap().as_ref().is_some_and(|usage| usage.demoted())
    }
}

thread_local! {
    static ON_BACKGROUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one of the background workers.
pub fn on_background() -> bool {
    ON_BACKGROUND.get()
}

/// The foreground workers (the runtime serving the listener) and the background ones that
/// demoted namespaces run on.
pub struct Workers {
    foreground: Handle,
    background: Option<tokio::runtime::Runtime>,
}

impl Workers {
    /// Starts the background workers beside the runtime this is called in.
    pub fn start(workers: usize) -> anyhow::Result<Self> {
        let foreground = Handle::try_current().map_err(|_| anyhow::anyhow!("workers start inside a runtime"))?;
        let background = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("marquee-background")
            .on_thread_start(|| {
                ON_BACKGROUND.set(true);
                idle_priority();
            })
            .enable_all()
            .build()?;
        Ok(Self { foreground, background: Some(background) })
    }

    fn handles(&self) -> Handles {
        let background = self.background.as_ref().expect("background workers run until the app is dropped");
        Handles { foreground: self.foreground.clone(), background: background.handle().clone() }
    }

    /// Runs one instance (its whole life) on the workers of its namespace's class, polled only
    /// under one of `permits`. The result comes back on the receiver; it is dropped unsent only
    /// if the instance's code panicked.
    pub fn run<F>(&self, instance: F, permits: Arc<Semaphore>, usage: Arc<Usage>) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let (done, receiver) = oneshot::channel();
        self.handles().spawn(Gated::new(instance, permits, usage.clone()), usage, move |output| {
            let _ = done.send(output);
        });
        receiver
    }

    /// Serves a connection on the workers of the class of the namespace it last served.
    pub fn serve<F>(&self, connection: F, class: Arc<Follow>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handles().spawn(Box::pin(connection), class, |()| ());
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code (a test's or the server's) may not do.
        if let Some(runtime) = self.background.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Clone)]
struct Handles {
    foreground: Handle,
    background: Handle,
}

impl Handles {
    fn spawn<F, C>(self, future: F, class: Arc<C>, done: impl FnOnce(F::Output) + Send + 'static)
    where
        F: Future + Unpin + Send + 'static,
        F::Output: Send,
        C: Class,
    {
        let background = class.background();
        let handle = if background { &self.background } else { &self.foreground };
        handle.clone().spawn(async move {
            match (Segment { future: Some(future), class: class.clone(), background }).await {
                Ok(output) => done(output),
                // Long-lived work (a spinner yields every tick, a keep-alive connection)
                // follows its class instead of staying where it started.
                Err(future) => self.spawn(future, class, done),
            }
        });
    }
}

/// Polls work until it finishes, or until it waits while it belongs on the other workers;
/// then it hands the work back to be spawned there.
struct Segment<F, C> {
    future: Option<F>,
    class: Arc<C>,
    background: bool,
}

impl<F: Future + Unpin, C: Class> Future for Segment<F, C> {
    type Output = Result<F::Output, F>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut().expect("a segment is not polled after it ends");
        match Pin::new(future).poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ok(output)),
            // Between polls it holds no run permit; its next poll re-registers whatever it
            // waits on, there.
            Poll::Pending if self.class.background() != self.background => {
                Poll::Ready(Err(self.future.take().expect("checked above")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Puts the calling thread in the SCHED_IDLE class: it runs only when no other thread wants
/// its core, and asks for no privilege.
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` outlives the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower a background worker's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_on(active: &Arc<Active>) -> Arc<Usage> {
        Arc::new(Usage::new(
            CpuMetrics {
                seconds: prometheus::Counter::new("cpu", "cpu").unwrap(),
                background: prometheus::IntGauge::new("background", "background").unwrap(),
            },
            active.clone(),
        ))
    }

    fn usage() -> Arc<Usage> {
        usage_on(&Arc::default())
    }

    fn tick(usages: &[Arc<Usage>], spent_ms: &[f64]) -> Vec<bool> {
        for (usage, ms) in usages.iter().zip(spent_ms) {
            if *ms > 0.0 {
                usage.charge(Duration::from_secs_f64(ms / 1e3));
            }
        }
        rebalance(&usages[0].active, 2);
        usages.iter().map(|u| u.demoted()).collect()
    }

    #[test]
    fn a_tick_walks_only_the_namespaces_that_ran_lately() {
        let active = Arc::new(Active::default());
        let all: Vec<_> = (0..1000).map(|_| usage_on(&active)).collect();
        rebalance(&active, 2);
        assert!(active.is_empty(), "nobody ran");
        let mut spent = vec![0.0; all.len()];
        spent[7] = 3.0;
        tick(&all, &spent);
        assert_eq!(active.len(), 1, "one enrolled itself when charged");
        all[7].charge(Duration::from_millis(1));
        assert_eq!(active.len(), 1, "and only once");
        let idle = (1..200).find(|_| {
            rebalance(&active, 2);
            active.is_empty()
        });
        assert!(idle.is_some_and(|n| n < 100), "it leaves once idle: {idle:?}");
        assert!((all[7].metrics.seconds.get() - 0.004).abs() < 1e-6, "every charged nanosecond counted");
        tick(&all, &spent);
        assert_eq!(active.len(), 1, "and comes back when it runs again");
    }

    #[test]
    fn a_namespace_over_its_share_is_demoted_only_while_others_compete() {
        let active = Arc::default();
        let (flood, calm) = (usage_on(&active), usage_on(&active));
        let both = [flood.clone(), calm.clone()];
        // Two cores and two active namespaces: a share is 10 ms of each 10 ms tick.
        assert_eq!(tick(&both, &[8.0, 0.05]), [false, false], "under its share");
        assert_eq!(tick(&both, &[15.0, 0.05]), [true, false], "demoted on its first tick over it");
        assert_eq!(tick(&both, &[6.0, 0.05]), [true, false], "kept down above half its share");
        assert!(flood.metrics.background.get() == 1 && calm.metrics.background.get() == 0);
        for _ in 0..40 {
            tick(&both, &[15.0, 0.0]);
        }
        assert_eq!(tick(&both, &[15.0, 0.0]), [false, false], "alone, it may use every core");
        assert_eq!(flood.metrics.background.get(), 0);
        tick(&both, &[15.0, 0.05]);
        assert_eq!(tick(&both, &[4.0, 0.05]), [true, false], "its smoothed use is still high");
        let ticks = (1..20).find(|_| !tick(&both, &[4.0, 0.05])[0]);
        assert!(ticks.is_some_and(|n| n < 12), "promoted once it stays below half its share: {ticks:?}");
        assert!(flood.metrics.seconds.get() > 0.5 && calm.metrics.seconds.get() < 0.01);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_follows_its_namespace_between_the_workers_at_its_waits() {
        let workers = Workers::start(1).unwrap();
        let usage = usage();
        let (commands, mut received) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let done = workers.run(
            async move {
                while received.recv().await.is_some() {
                    report.send(on_background()).unwrap();
                }
                "ended"
            },
            Arc::new(Semaphore::new(1)),
            usage.clone(),
        );
        let mut step = async |demoted: bool| {
            usage.demoted.store(demoted, Relaxed);
            commands.send(()).unwrap();
            reports.recv().await.unwrap()
        };
        assert!(!step(false).await);
        for side in [true, false] {
            // It moves at its next wait after the change, and is then polled on its new side.
            let mut steps = 1;
            while step(side).await != side {
                steps += 1;
                assert!(steps < 1000, "never moved to the {} workers", if side { "background" } else { "foreground" });
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        drop(commands);
        assert_eq!(done.await.unwrap(), "ended");
    }
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn only_one_runs_at_a_time_but_waiting_frees_the_permit() {
        let permits = Arc::new(Semaphore::new(1));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(Gated::new(
                    async move {
                        for _ in 0..3 {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            running.fetch_sub(1, Ordering::SeqCst);
                            // A wait: the permit goes to the next task meanwhile.
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                    },
                    permits.clone(),
                    usage(),
                ))
            })
            .collect();
        let started = std::time::Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        // Had a waiting task kept its permit, four tasks x three 5 ms waits would take 60 ms.
        assert!(started.elapsed() < std::time::Duration::from_millis(45), "{:?}", started.elapsed());
        assert_eq!(permits.available_permits(), 1);
    }
}
