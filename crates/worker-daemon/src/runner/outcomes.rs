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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatcher::Finished;
use events::Outcome;
use lifecycle::Shutdown;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::leases::Held;
use crate::queue_client::QueueClient;

/// Longest an outcome waits for the claim loop before the flusher records it on its own.
/// Long enough that a busy loop (a round trip every millisecond or two) takes nearly every
/// outcome with a claim, short enough that a waiting loop costs nobody a visible delay.
const LINGER: Duration = Duration::from_millis(5);

/// Pause of the flusher after a failed write, so a database outage is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Outcomes not yet recorded, in the order they were buffered.
#[derive(Default)]
pub(super) struct Outcomes {
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
    pub(super) fn push(&self, item_id: i64, outcome: Outcome) {
        let mut s = self.lock();
        if s.items.is_empty() {
            s.oldest = Some(Instant::now());
        }
        s.items.push((item_id, outcome));
        drop(s);
        self.added.notify_one();
    }

    /// Takes everything waiting.
    pub(super) fn take(&self) -> Vec<(i64, Outcome)> {
        let mut s = self.lock();
        s.oldest = None;
        std::mem::take(&mut s.items)
    }

    /// Returns outcomes whose write failed, ahead of anything buffered since, to be tried again.
    pub(super) fn put_back(&self, mut batch: Vec<(i64, Outcome)>) {
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
    pub(super) fn len(&self) -> usize {
        self.lock().items.len()
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

/// Writes the buffered outcomes of one service's runner, and lets go of the items written.
#[derive(Clone)]
pub(super) struct Recorder {
    queue: QueueClient,
    outcomes: Arc<Outcomes>,
    held: Arc<Held>,
    slug: Arc<str>,
}

impl Recorder {
    /// Records `outcomes` through `queue` for the service `slug`; items written leave `held`.
    pub(super) fn new(
        queue: QueueClient,
        outcomes: Arc<Outcomes>,
        held: Arc<Held>,
        slug: &str,
    ) -> Recorder {
        Recorder {
            queue,
            outcomes,
            held,
            slug: Arc::from(slug),
        }
    }

    /// Takes everything waiting, for a round trip that records it (a claim).
    pub(super) fn take(&self) -> Vec<(i64, Outcome)> {
        self.outcomes.take()
    }

    /// Returns a batch whose write failed, to be tried again first.
    pub(super) fn put_back(&self, batch: Vec<(i64, Outcome)>) {
        self.outcomes.put_back(batch);
    }

    /// Outcomes waiting.
    pub(super) fn waiting(&self) -> usize {
        self.outcomes.len()
    }

    /// A batch went to the database (`recorded` holds its ids): those items are no longer
    /// held, and the ones another worker had taken over are logged.
    pub(super) fn written(&self, recorded: &[i64], finished: &Finished) {
        for id in &finished.not_held {
            tracing::warn!(
                service = %self.slug,
                item = id,
                "item was taken over by another worker before it finished; its result is dropped"
            );
        }
        self.held.remove_all(recorded);
    }

    /// Records everything waiting now; on failure puts it back for the next try.
    pub(super) async fn flush(&self) -> anyhow::Result<()> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(());
        }
        let ids = ids_of(&batch);
        match self.queue.finish(batch.clone()).await {
            Ok(finished) => {
                self.written(&ids, &finished);
                Ok(())
            }
            Err(e) => {
                self.put_back(batch);
                Err(e)
            }
        }
    }

    /// Records outcomes that waited [`LINGER`] until `quit` fires. A write in progress when
    /// `quit` fires is finished first; what is still waiting then is the caller's to flush.
    pub(super) async fn flush_lingering(self, mut quit: Shutdown) {
        loop {
            tokio::select! {
                () = self.outcomes.due(LINGER) => {}
                () = quit.wait() => return,
            }
            if let Err(e) = self.flush().await {
                tracing::error!(service = %self.slug, "cannot record results (will retry): {e:#}");
                if quit.sleep(RETRY_PAUSE).await {
                    return;
                }
            }
        }
    }
}

/// The item ids of a batch.
pub(super) fn ids_of(batch: &[(i64, Outcome)]) -> Vec<i64> {
    batch.iter().map(|(id, _)| *id).collect()
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
        assert_eq!(o.len(), 0);
        o.push(3, Outcome::Completed);
        o.put_back(batch);
        assert_eq!(ids_of(&o.take()), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn due_waits_while_empty_and_resolves_after_a_push() {
        let o = Arc::new(Outcomes::default());
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
