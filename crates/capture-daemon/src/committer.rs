//! Committing batches to the database: one engine call per batch
//! ([`Engine::dispatch`]: the events, their queue rows and the session's `total_events` in one
//! transaction), strictly in arrival order, retried with backoff
//! while the database is away. Batches waiting their turn live in the [`Spool`]; the frames
//! that queued up while a transaction ran are committed together in the next one (group
//! commit, up to [`GROUP_MAX_EVENTS`]), so a burst costs a few transactions, not one per frame.
//!
//! # Nothing lost, nothing doubled
//!
//! A batch leaves the spool only after its transaction committed. A failure whose outcome is
//! unknown (the connection died during COMMIT) or a daemon killed after a commit but before
//! the spool truncation means the same batch can be committed twice, which the engine's
//! dispatch is made for: it skips events whose (room_id, msg_id) is stored and synthesised
//! streak ends (the only events without a msg_id) whose streak already has its end row, and
//! `total_events` grows by what was actually stored, in the same transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use core_models::{Db, DbError};
use dispatcher::{Batch, DispatchReport, Engine, EngineError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::console::Console;
use crate::spool::{Spool, SpoolError};

/// Most events committed in one transaction when frames queue up (a burst, or a spool
/// flushed after an outage). Big enough that a transaction's fixed cost stops mattering,
/// small enough that one transaction stays in the tens of milliseconds.
pub const GROUP_MAX_EVENTS: usize = 2_000;

/// Tuning of the committer task.
#[derive(Debug, Clone, Copy)]
pub struct CommitterConfig {
    /// An attempt still running after this long counts as an outage: queued batches go to
    /// the spool file (e.g. SQLite waiting out a lock for its busy timeout).
    pub slow_after: Duration,
    /// First retry delay after a failure.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// After the input closes, how long to keep trying before leaving the rest spooled.
    pub drain_timeout: Duration,
}

impl Default for CommitterConfig {
    fn default() -> Self {
        CommitterConfig {
            slow_after: Duration::from_secs(2),
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Running totals, readable while the committer runs.
#[derive(Debug, Default)]
pub struct CommitterStats {
    /// Events stored in `live_events`.
    pub stored: AtomicU64,
    /// Events skipped as already stored.
    pub duplicates: AtomicU64,
    /// Frames (spool batches) committed.
    pub batches: AtomicU64,
    /// Transactions committed (several frames each during a burst).
    pub commits: AtomicU64,
    /// Queue rows enqueued for a service (over its limit included).
    pub enqueued: AtomicU64,
    /// Queue rows discarded by the overflow policy (victims and new events).
    pub discarded: AtomicU64,
    /// Non-discardable events enqueued over a full queue.
    pub overflow: AtomicU64,
    /// Times the database became unavailable.
    pub outages: AtomicU64,
}

/// How the committer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitterOutcome {
    /// Batches still in the spool file (the database did not come back in time).
    pub left_batches: usize,
    /// Events in them.
    pub left_events: usize,
}

/// A running committer task.
#[derive(Debug)]
pub struct Committer {
    /// Send batches here, in arrival order; drop it to let the committer drain and stop.
    pub tx: mpsc::Sender<Batch>,
    /// The task.
    pub task: JoinHandle<Result<CommitterOutcome, SpoolError>>,
    /// Its totals.
    pub stats: Arc<CommitterStats>,
}

impl Committer {
    /// Starts the committer task over `spool` (whose leftover batches are committed first).
    pub fn spawn(db: Db, spool: Spool, console: Console, config: CommitterConfig) -> Committer {
        // Frames come a few per second; the channel only absorbs bursts while the committer
        // moves a batch into the spool.
        let (tx, rx) = mpsc::channel(256);
        let stats = Arc::new(CommitterStats::default());
        let task = tokio::spawn(run(db, spool, rx, console, config, stats.clone()));
        Committer { tx, task, stats }
    }
}

fn delay(config: &CommitterConfig, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    config
        .retry_initial
        .saturating_mul(1 << exp)
        .min(config.retry_max)
}

async fn run(
    db: Db,
    mut spool: Spool,
    mut rx: mpsc::Receiver<Batch>,
    console: Console,
    config: CommitterConfig,
    stats: Arc<CommitterStats>,
) -> Result<CommitterOutcome, SpoolError> {
    if !spool.is_empty() {
        console.status(format!(
            "📦 {} batch(es) ({} events) left in {} by a previous run: storing them first",
            spool.len(),
            spool.events(),
            spool.path().display()
        ));
    }
    let mut attempt: Option<Attempt> = None;
    let mut failures: u32 = 0;
    let mut retry_at = Instant::now();
    let mut input_open = true;
    let mut drain_deadline: Option<Instant> = None;
    let mut outage = false;
    loop {
        if attempt.is_none() && !spool.is_empty() && Instant::now() >= retry_at {
            if let Some((batch, frames)) = spool.front_group(GROUP_MAX_EVENTS)? {
                let db = db.clone();
                let job =
                    async move { db.run(move |conn| Engine::new(conn).dispatch(&batch)).await };
                attempt = Some(Attempt {
                    task: tokio::spawn(job),
                    started: Instant::now(),
                    frames,
                });
            }
        }
        if !input_open {
            if spool.is_empty() && attempt.is_none() {
                break;
            }
            // Out of time: what is left stays in the spool file (an attempt still in flight
            // may commit or not; the next start commits it again idempotently).
            if drain_deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        let slow_at = attempt.as_ref().map(|a| a.started + config.slow_after);
        tokio::select! {
            result = wait_attempt(&mut attempt), if attempt.is_some() => {
                let frames = attempt.take().map_or(0, |a| a.frames);
                match result {
                    Ok(report) => {
                        spool.pop_committed_many(frames)?;
                        stats.stored.fetch_add(report.stored, Ordering::Relaxed);
                        stats.duplicates.fetch_add(report.duplicates, Ordering::Relaxed);
                        stats.batches.fetch_add(frames as u64, Ordering::Relaxed);
                        stats.commits.fetch_add(1, Ordering::Relaxed);
                        let t = report.totals();
                        stats.enqueued.fetch_add(t.enqueued, Ordering::Relaxed);
                        stats
                            .discarded
                            .fetch_add(t.discarded_victim + t.discarded_new, Ordering::Relaxed);
                        stats.overflow.fetch_add(t.overflow, Ordering::Relaxed);
                        console.detail(format!("   ↳ {report}"));
                        if outage {
                            outage = false;
                            console.status(format!(
                                "✅ database is back after {failures} failed attempt(s); {} batch(es) still to flush",
                                spool.len()
                            ));
                        }
                        failures = 0;
                    }
                    Err(error) => {
                        failures += 1;
                        spool.persist_all()?;
                        if !outage {
                            outage = true;
                            stats.outages.fetch_add(1, Ordering::Relaxed);
                            console.status(format!(
                                "⚠️ database unavailable ({error}); capture goes on, events are spooled to {}",
                                spool.path().display()
                            ));
                        }
                        tracing::warn!(%error, failures, queued = spool.len(), "storing a batch failed; will retry");
                        retry_at = Instant::now() + delay(&config, failures);
                    }
                }
            }
            batch = rx.recv(), if input_open => match batch {
                Some(batch) => spool.push(batch)?,
                None => {
                    input_open = false;
                    drain_deadline = Some(Instant::now() + config.drain_timeout);
                }
            },
            () = sleep_until_opt(slow_at), if slow_at.is_some() && !spool.is_durable() => {
                // Still waiting on the database: from now on, queued batches are on disk.
                tracing::warn!("the database is slow to answer; spooling queued batches to disk");
                spool.persist_all()?;
            }
            () = tokio::time::sleep_until(retry_at), if attempt.is_none() && !spool.is_empty() && Instant::now() < retry_at => {}
            () = sleep_until_opt(drain_deadline), if !input_open => {}
            // Unreachable: with no branch enabled the top of the loop starts an attempt or
            // breaks; looping again is the safe answer anyway.
            else => {}
        }
    }
    if !spool.is_empty() {
        spool.persist_all()?;
    }
    Ok(CommitterOutcome {
        left_batches: spool.len(),
        left_events: spool.events(),
    })
}

/// A commit in flight.
struct Attempt {
    task: JoinHandle<Result<DispatchReport, EngineError>>,
    started: Instant,
    /// Spool batches (frames) it commits together.
    frames: usize,
}

/// The outcome of the attempt in flight (pending forever when there is none).
async fn wait_attempt(attempt: &mut Option<Attempt>) -> Result<DispatchReport, EngineError> {
    match attempt {
        Some(a) => (&mut a.task)
            .await
            .unwrap_or_else(|e| Err(EngineError::Db(DbError::Task(e.to_string())))),
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_caps() {
        let c = CommitterConfig::default();
        assert_eq!(delay(&c, 1), Duration::from_millis(250));
        assert_eq!(delay(&c, 2), Duration::from_millis(500));
        assert_eq!(delay(&c, 30), Duration::from_secs(5));
    }
}
