//! The outcomes of a runner's finished items, waiting to be recorded in the database.
//!
//! Recording each outcome in its own transaction capped a runner at a few thousand items per
//! second, so finished items wait here instead: the claim loop records everything waiting with
//! its next claim (one transaction for both), and a flusher task records whatever has waited
//! [`LINGER`] without being picked up, so an item's status never lags its work by much more
//! than that, whatever the loop is doing (sleeping, waiting for a slot, running a long SYNC
//! item).
//!
//! An item stays in the runner's held set (renewed, released at shutdown) until its outcome is
//! recorded, not merely known: a buffered item is still `processing` in the database.

use std::sync::Mutex;
use std::time::Duration;

use dispatcher::{Finished, Outcome};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::queue_client::QueueClient;

/// Longest an outcome waits for the claim loop before the flusher records it on its own.
/// Long enough that a busy loop (a round trip every millisecond or two) takes nearly every
/// outcome with a claim, short enough that a waiting loop costs nobody a visible delay.
pub const LINGER: Duration = Duration::from_millis(5);

/// Pause of the flusher after a failed write, so a database outage is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Outcomes not yet recorded, in the order they were buffered.
#[derive(Default)]
pub struct Outcomes {
    state: Mutex<Buffered>,
    /// Signalled on every push, so the flusher sleeps only while there is nothing to record.
    added: Notify,
}

#[derive(Default)]
struct Buffered {
    items: Vec<(i64, Outcome)>,
    /// When the oldest waiting outcome arrived; `None` while empty.
    oldest: Option<Instant>,
}

impl Outcomes {
    /// Buffers the outcome of a finished item.
    pub fn push(&self, item_id: i64, outcome: Outcome) {
        let mut s = self.lock();
        if s.items.is_empty() {
            s.oldest = Some(Instant::now());
        }
        s.items.push((item_id, outcome));
        drop(s);
        self.added.notify_one();
    }

    /// Takes everything waiting.
    pub fn take(&self) -> Vec<(i64, Outcome)> {
        let mut s = self.lock();
        s.oldest = None;
        std::mem::take(&mut s.items)
    }

    /// Returns outcomes whose write failed, ahead of anything buffered since, to be tried again.
    pub fn put_back(&self, mut batch: Vec<(i64, Outcome)>) {
        if batch.is_empty() {
            return;
        }
        let mut s = self.lock();
        if s.items.is_empty() {
            s.oldest = Some(Instant::now());
        }
        batch.append(&mut s.items);
        s.items = batch;
        drop(s);
        self.added.notify_one();
    }

    /// Number of outcomes waiting.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the oldest waiting outcome has waited `linger`.
    async fn due(&self, linger: Duration) {
        loop {
            let oldest = self.lock().oldest;
            match oldest {
                // A push between this check and the wait is not lost: `notify_one` leaves a
                // permit when nobody waits.
                None => self.added.notified().await,
                Some(t) => {
                    let at = t + linger;
                    if Instant::now() >= at {
                        return;
                    }
                    // The loop may take the batch meanwhile; look again when the time comes.
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffered> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Records everything waiting in `outcomes`; on failure puts it back for the next try.
/// Returns the ids whose outcome went to the database (recorded or found taken over), which
/// the caller no longer holds.
pub async fn flush(
    queue: &QueueClient,
    outcomes: &Outcomes,
    slug: &str,
) -> anyhow::Result<Vec<i64>> {
    let batch = outcomes.take();
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids_of(&batch);
    match queue.finish(batch.clone()).await {
        Ok(finished) => {
            warn_not_held(slug, &finished);
            Ok(ids)
        }
        Err(e) => {
            outcomes.put_back(batch);
            Err(e)
        }
    }
}

/// The item ids of a batch.
pub fn ids_of(batch: &[(i64, Outcome)]) -> Vec<i64> {
    batch.iter().map(|(id, _)| *id).collect()
}

/// Logs each item whose outcome was dropped because another worker had taken it over.
pub fn warn_not_held(slug: &str, finished: &Finished) {
    for id in &finished.not_held {
        tracing::warn!(
            service = %slug,
            item = id,
            "item was taken over by another worker before it finished; its result is dropped"
        );
    }
}

/// Records outcomes that waited [`LINGER`] until `quit` fires (or its sender is dropped),
/// calling `recorded` with the ids of each batch written. A write in progress when `quit`
/// fires is finished first; what is still waiting then is the caller's to flush.
pub async fn run_flusher(
    queue: QueueClient,
    outcomes: std::sync::Arc<Outcomes>,
    slug: String,
    recorded: impl Fn(Vec<i64>),
    mut quit: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            () = outcomes.due(LINGER) => {}
            _ = &mut quit => return,
        }
        match flush(&queue, &outcomes, &slug).await {
            Ok(ids) => recorded(ids),
            Err(e) => {
                tracing::error!(service = %slug, "cannot record results (will retry): {e:#}");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    _ = &mut quit => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_empties_and_put_back_goes_first() {
        let o = Outcomes::default();
        o.push(1, Outcome::Completed);
        o.push(2, Outcome::Failed("x".into()));
        let batch = o.take();
        assert_eq!(ids_of(&batch), vec![1, 2]);
        assert!(o.is_empty());
        o.push(3, Outcome::Completed);
        o.put_back(batch);
        assert_eq!(ids_of(&o.take()), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn due_waits_while_empty_and_resolves_after_a_push() {
        let o = std::sync::Arc::new(Outcomes::default());
        let waiter = {
            let o = o.clone();
            tokio::spawn(async move { o.due(LINGER).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "nothing buffered: keeps waiting");
        o.push(7, Outcome::Completed);
        waiter.await.unwrap();
        assert_eq!(o.len(), 1, "due() only waits; the outcome is still there");
    }
}
