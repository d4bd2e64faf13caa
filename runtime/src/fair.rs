//! Fair use of the CPU across namespaces. Each namespace may run Wasm on at most a few
//! instances at once (one per core by default); an instance holds its namespace's run permit
//! only while it is being polled, and gives it back whenever it waits (an epoch-tick yield,
//! a durable commit, a slow client, a sleep). A flooded or spinning namespace so competes
//! with itself for its permits, and a neighbour's request finds only a few of its tasks
//! ahead of it in the scheduler instead of the whole flood.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A future that is polled only while it holds a permit of `permits`.
pub struct Gated<F> {
    inner: Pin<Box<F>>,
    permits: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    acquiring: Option<Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>>,
}

impl<F: Future> Gated<F> {
    pub fn new(inner: F, permits: Arc<Semaphore>) -> Self {
        Self { inner: Box::pin(inner), permits, permit: None, acquiring: None }
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
        let output = this.inner.as_mut().poll(cx);
        if output.is_pending() {
            // Waiting is not running: the next of this namespace's instances may run.
            this.permit = None;
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
