//! Working one queue of the store's outbox: claim what is due, do it, and settle it, or try it
//! again later with backoff. Mail and refunds the provider failed are worked alike.

use std::time::Duration;

use anyhow::Result;
use marquee_store::clock::now_ms;
use marquee_store::{Delivery, Message, Outbox};

/// The first wait after a failed try; each failure doubles it, up to the longest.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(500);
/// How long a sent or dropped message stays on the desk's outbox before it is forgotten.
pub const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often settled messages older than that are forgotten, and how many at a time.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: usize = 1000;

/// Forgets settled messages older than [`KEEP`], every hour, for as long as the process runs
/// (any number of processes may: forgetting twice is forgetting once).
pub async fn prune(outbox: &dyn Outbox) {
    loop {
        let before = now_ms().saturating_sub(KEEP.as_millis() as u64);
        loop {
            match outbox.prune(before, PRUNE_BATCH).await {
                Ok(forgotten) if forgotten as usize == PRUNE_BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "could not forget old outbox messages");
                    break;
                }
            }
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// How a queue is worked.
pub struct Worker<'a> {
    /// The outbox.
    pub outbox: &'a dyn Outbox,
    /// The queue.
    pub queue: &'a str,
    /// How long a claimed message is this process's: past the longest try, so no other process
    /// does it while this one still may.
    pub lease: Duration,
    /// Messages claimed, and done at once, at a time.
    pub batch: usize,
}

impl Worker<'_> {
    /// Does each due message with `each`, given its body read as a `T` and the tries so far
    /// (`Ok`: settled so; `Err`: tried again later), and calls `between` after each batch, for
    /// as long as the process runs. A body this release cannot read is dropped, and logged.
    pub async fn run<T, Each, Done, Between, Counted>(&self, each: Each, between: Between)
    where
        T: serde::de::DeserializeOwned,
        Each: Fn(T, u32) -> Done,
        Done: Future<Output = Result<Delivery>>,
        Between: Fn() -> Counted,
        Counted: Future<Output = ()>,
    {
        loop {
            let full = match self.outbox.claim(self.queue, now_ms(), self.lease.as_millis() as u64, self.batch).await {
                Ok(batch) => {
                    futures_util::future::join_all(batch.iter().map(|m| self.settle(m, &each))).await;
                    batch.len() == self.batch
                }
                Err(e) => {
                    tracing::warn!(queue = self.queue, error = format!("{e:#}"), "could not read the outbox");
                    false
                }
            };
            between().await;
            if !full {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    async fn settle<T: serde::de::DeserializeOwned, Done: Future<Output = Result<Delivery>>>(&self, message: &Message, each: &impl Fn(T, u32) -> Done) {
        let done = match serde_json::from_str(&message.body) {
            Ok(body) => each(body, message.attempts).await,
            Err(e) => {
                tracing::error!(queue = self.queue, id = message.id, error = %e, "an outbox message this release cannot read: dropped (a refund: pay it back by hand)");
                Ok(Delivery::Dropped)
            }
        };
        let settled = match done {
            Ok(state) => self.outbox.settle(&message.id, state, now_ms()).await,
            Err(e) => {
                let wait = FIRST_RETRY.saturating_mul(1 << message.attempts.saturating_sub(1).min(16)).min(LONGEST_RETRY);
                tracing::warn!(id = message.id, attempts = message.attempts, retry_in = ?wait, error = format!("{e:#}"), "not done; tried again later");
                self.outbox.retry(&message.id, &format!("{e:#}"), now_ms() + wait.as_millis() as u64).await
            }
        };
        // Unsettled, the message is due again when its lease ends.
        if let Err(e) = settled {
            tracing::warn!(id = message.id, error = format!("{e:#}"), "could not settle an outbox message");
        }
    }
}
