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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use core_models::{Db, DbError};
use dispatcher::{Batch, BatchGroup, DispatchReport, Engine, EngineError, RuleCache};
use lifecycle::Backoff;
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
#[derive(Debug, Clone)]
pub struct CommitterConfig {
    /// An attempt still running after this long counts as an outage: queued batches go to
    /// the spool file (e.g. SQLite waiting out a lock for its busy timeout).
    pub slow_after: Duration,
    /// The delay between attempts while the database fails.
    pub retry: Backoff,
    /// After the input closes, how long to keep trying before leaving the rest spooled.
    pub drain_timeout: Duration,
    /// How old the rules kept in memory may get: a rule added, changed or removed with
    /// `ctl rule` reaches the capture within this.
    pub rules_max_age: Duration,
}

impl Default for CommitterConfig {
    fn default() -> Self {
        CommitterConfig {
            slow_after: Duration::from_secs(2),
            retry: Backoff::new(Duration::from_millis(250), Duration::from_secs(5)),
            drain_timeout: Duration::from_secs(30),
            rules_max_age: Duration::from_secs(2),
        }
    }
}

/// What the committer did, counted as it went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitTotals {
    /// Events stored in `live_events`.
    pub stored: u64,
    /// Events skipped as already stored.
    pub duplicates: u64,
    /// Frames (spool batches) committed.
    pub batches: u64,
    /// Transactions committed (several frames each during a burst).
    pub commits: u64,
    /// Non-discardable events enqueued over a full queue.
    pub overflow: u64,
    /// Times the database became unavailable.
    pub outages: u64,
}

/// How the committer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitterOutcome {
    /// What it committed.
    pub totals: CommitTotals,
    /// Batches still in the spool file (the database did not come back in time).
    pub left_batches: usize,
    /// Events in them.
    pub left_events: usize,
}

/// The committer task is gone (it stopped on a spool error): nothing more can be queued.
#[derive(Debug, thiserror::Error)]
#[error("the committer stopped")]
pub struct CommitterStopped;

/// Why the committer could not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    /// The spool file failed: what it held is as the file says.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The task panicked or was cancelled.
    #[error("committer task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running committer task: batches in, in arrival order; [`Committer::close`] drains it.
#[derive(Debug)]
pub struct Committer {
    input: mpsc::Sender<Batch>,
    task: JoinHandle<Result<CommitterOutcome, SpoolError>>,
}

impl Committer {
    /// Starts the committer task over `spool` (whose leftover batches are committed first).
    pub fn spawn(db: Db, spool: Spool, console: Console, config: CommitterConfig) -> Committer {
        // Frames come a few per second; the channel only absorbs bursts while the committer
        // moves a batch into the spool.
        let (input, rx) = mpsc::channel(256);
        let task = tokio::spawn(CommitLoop::new(db, spool, rx, console, config).run());
        Committer { input, task }
    }

    /// Queues a batch behind the others.
    pub async fn send(&self, batch: Batch) -> Result<(), CommitterStopped> {
        self.input.send(batch).await.map_err(|_| CommitterStopped)
    }

    /// Closes the input at once (the committer starts draining now), and returns the future
    /// of its end: what is queued committed, or left in the spool file once the drain
    /// timeout passed.
    pub fn close(self) -> impl Future<Output = Result<CommitterOutcome, CommitterError>> {
        let Committer { input, task } = self;
        drop(input);
        async move { Ok(task.await??) }
    }
}

/// The committer task: at most one commit in flight, the spool's batches waiting behind it.
struct CommitLoop {
    db: Db,
    spool: Spool,
    input: mpsc::Receiver<Batch>,
    console: Console,
    config: CommitterConfig,
    totals: CommitTotals,
    /// The commit in flight.
    attempt: Option<Attempt>,
    /// Failures since the last commit, and so the delay before the next attempt.
    backoff: Backoff,
    /// No attempt starts before this (set after a failure).
    retry_at: Instant,
    /// Set once the input closed: past it, what is left stays in the spool file.
    drain_deadline: Option<Instant>,
    /// The database is failing (the streamer is told once per outage).
    outage: bool,
    /// The services' rules, checked in memory and reloaded every `rules_max_age`.
    rules: Arc<RuleCache>,
}

impl CommitLoop {
    fn new(
        db: Db,
        spool: Spool,
        input: mpsc::Receiver<Batch>,
        console: Console,
        config: CommitterConfig,
    ) -> CommitLoop {
        CommitLoop {
            db,
            spool,
            input,
            console,
            backoff: config.retry.clone(),
            totals: CommitTotals::default(),
            attempt: None,
            retry_at: Instant::now(),
            drain_deadline: None,
            outage: false,
            rules: Arc::new(RuleCache::new(config.rules_max_age)),
            config,
        }
    }

    async fn run(mut self) -> Result<CommitterOutcome, SpoolError> {
        self.announce_leftovers();
        loop {
            self.start_attempt_when_due()?;
            if self.finished() {
                break;
            }
            let slow_at = self
                .attempt
                .as_ref()
                .map(|a| a.started + self.config.slow_after);
            tokio::select! {
                result = wait_attempt(&mut self.attempt), if self.attempt.is_some() => {
                    self.attempt_ended(result)?;
                }
                batch = self.input.recv(), if self.input_open() => self.received(batch)?,
                () = sleep_until_opt(slow_at), if slow_at.is_some() && !self.spool.is_durable() => {
                    self.database_slow()?;
                }
                () = tokio::time::sleep_until(self.retry_at), if self.waiting_to_retry() => {}
                () = sleep_until_opt(self.drain_deadline), if !self.input_open() => {}
                // Unreachable: with no branch enabled the top of the loop starts an attempt or
                // breaks; looping again is the safe answer anyway.
                else => {}
            }
        }
        self.leave()
    }

    /// Tells the streamer about batches a previous run left in the spool.
    fn announce_leftovers(&self) {
        if !self.spool.is_empty() {
            self.console.status(format!(
                "📦 {} batch(es) ({} events) left in {} by a previous run: storing them first",
                self.spool.len(),
                self.spool.events(),
                self.spool.path().display()
            ));
        }
    }

    fn input_open(&self) -> bool {
        self.drain_deadline.is_none()
    }

    /// Batches wait, none is in flight, and the retry delay is not over yet.
    fn waiting_to_retry(&self) -> bool {
        self.attempt.is_none() && !self.spool.is_empty() && Instant::now() < self.retry_at
    }

    /// Starts committing the oldest queued frames, grouped, unless a commit is in flight or a
    /// retry is not due yet.
    fn start_attempt_when_due(&mut self) -> Result<(), SpoolError> {
        if self.attempt.is_some() || self.spool.is_empty() || Instant::now() < self.retry_at {
            return Ok(());
        }
        let frames = self.spool.front_group(GROUP_MAX_EVENTS)?;
        if let Some((first, rest)) = frames.split_first() {
            let (first, rest) = (Arc::clone(first), rest.to_vec());
            let db = self.db.clone();
            let rules = Arc::clone(&self.rules);
            let job = async move {
                db.run(move |conn| {
                    let group = BatchGroup::join(&first, rest.iter().map(Arc::as_ref));
                    let report = Engine::new(conn).dispatch_cached(&group, &rules)?;
                    Ok(Committed {
                        report,
                        frames: group.batches(),
                    })
                })
                .await
            };
            self.attempt = Some(Attempt {
                task: tokio::spawn(job),
                started: Instant::now(),
            });
        }
        Ok(())
    }

    /// Once the input closed: everything committed, or out of time (what is left stays in
    /// the spool file; an attempt still in flight may commit or not, and the next start
    /// commits it again idempotently).
    fn finished(&self) -> bool {
        self.drain_deadline.is_some_and(|deadline| {
            (self.spool.is_empty() && self.attempt.is_none()) || Instant::now() >= deadline
        })
    }

    fn attempt_ended(&mut self, result: Result<Committed, EngineError>) -> Result<(), SpoolError> {
        self.attempt = None;
        match result {
            Ok(Committed { report, frames }) => self.committed(frames, &report),
            Err(error) => self.failed(&error),
        }
    }

    /// The frames left the spool: they are in the database.
    fn committed(&mut self, frames: usize, report: &DispatchReport) -> Result<(), SpoolError> {
        self.spool.pop_committed_many(frames)?;
        let totals = &mut self.totals;
        totals.stored += report.stored;
        totals.duplicates += report.duplicates;
        totals.batches += frames as u64;
        totals.commits += 1;
        totals.overflow += report.totals().overflow;
        self.console.detail(format!("   ↳ {report}"));
        if self.outage {
            self.outage = false;
            self.console.status(format!(
                "✅ database is back after {} failed attempt(s); {} batch(es) still to flush",
                self.backoff.failures(),
                self.spool.len()
            ));
        }
        self.backoff.reset();
        Ok(())
    }

    /// The database failed: from now on every queued batch is on disk, and the same frames
    /// are tried again after the backoff.
    fn failed(&mut self, error: &EngineError) -> Result<(), SpoolError> {
        let delay = self.backoff.next_delay();
        self.spool.persist_all()?;
        if !self.outage {
            self.outage = true;
            self.totals.outages += 1;
            self.console.status(format!(
                "⚠️ database unavailable ({error}); capture goes on, events are spooled to {}",
                self.spool.path().display()
            ));
        }
        tracing::warn!(%error, failures = self.backoff.failures(), queued = self.spool.len(), "storing a batch failed; will retry");
        self.retry_at = Instant::now() + delay;
        Ok(())
    }

    /// A frame from the capture, or the end of the input (the drain begins).
    fn received(&mut self, batch: Option<Batch>) -> Result<(), SpoolError> {
        match batch {
            Some(batch) => self.spool.push(batch)?,
            None => self.drain_deadline = Some(Instant::now() + self.config.drain_timeout),
        }
        Ok(())
    }

    /// Still waiting on the database: from now on, queued batches are on disk.
    fn database_slow(&mut self) -> Result<(), SpoolError> {
        tracing::warn!("the database is slow to answer; spooling queued batches to disk");
        self.spool.persist_all()
    }

    /// What is left goes to the spool file, for the next start.
    fn leave(mut self) -> Result<CommitterOutcome, SpoolError> {
        if !self.spool.is_empty() {
            self.spool.persist_all()?;
        }
        Ok(CommitterOutcome {
            totals: self.totals,
            left_batches: self.spool.len(),
            left_events: self.spool.events(),
        })
    }
}

/// A commit in flight.
struct Attempt {
    task: JoinHandle<Result<Committed, EngineError>>,
    started: Instant,
}

/// What a successful attempt committed.
struct Committed {
    report: DispatchReport,
    /// The spool's oldest batches (frames) it committed together.
    frames: usize,
}

/// The outcome of the attempt in flight (pending forever when there is none).
async fn wait_attempt(attempt: &mut Option<Attempt>) -> Result<Committed, EngineError> {
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
        assert_eq!(c.retry.delay(1), Duration::from_millis(250));
        assert_eq!(c.retry.delay(2), Duration::from_millis(500));
        assert_eq!(c.retry.delay(30), Duration::from_secs(5));
    }
}
