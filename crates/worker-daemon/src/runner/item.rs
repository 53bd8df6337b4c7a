//! Processing one job: hooks, the per-event timeout, panic capture, the outcome; then the
//! counters, the outcome buffered for recording, and the `--verbose` line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::Outcome;

use super::outcomes::Outcomes;
use crate::job::Job;
use crate::services::QueueService;
use crate::stats::ServiceCounters;

/// Runs the jobs of one serving runner, SYNC in its loop or ASYNC on tasks of their own.
pub(super) struct Processor {
    pub(super) service: Arc<dyn QueueService>,
    /// Longest one `process_event` may take.
    pub(super) timeout: Duration,
    pub(super) counters: Arc<ServiceCounters>,
    /// Where outcomes wait to be recorded (with the next claim, or by the flusher).
    pub(super) outcomes: Arc<Outcomes>,
    /// Print a line per item.
    pub(super) verbose: bool,
}

impl Processor {
    /// Runs one job and buffers its outcome; counts it and prints its `--verbose` line at
    /// once.
    pub(super) async fn process(&self, job: &Arc<Job>) {
        let counters = &self.counters;
        let in_flight = InFlight::enter(&counters.in_flight);
        let ran = execute(&self.service, job, self.timeout).await;
        drop(in_flight);
        counters.lag.record(ran.lag);
        counters.record_item_time(ran.elapsed);
        let item = job.item();
        match &ran.outcome {
            Outcome::Completed => {
                counters.completed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(service = %job.service().slug, item = item.id, "{} failed: {e}", job.event().event_type);
            }
        }
        self.outcomes.push(item.id, ran.outcome.clone());
        if self.verbose {
            print_verbose_line(job, &ran);
        }
    }
}

/// One item counted as running for as long as it lives: an item abandoned mid-way (a skip,
/// the end of a stop's grace) leaves the count too.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicU64) -> InFlight<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `✅ [Name] GiftEvent (P:10) completed in 3 ms`, like the original's.
fn print_verbose_line(job: &Job, ran: &Executed) {
    let ms = ran.elapsed.as_millis();
    let (name, event_type, priority) = (
        &job.service().name,
        job.event().event_type,
        job.item().priority,
    );
    match &ran.outcome {
        Outcome::Completed => {
            println!("✅ [{name}] {event_type} (P:{priority}) completed in {ms} ms")
        }
        Outcome::Failed(e) => {
            println!("❌ [{name}] {event_type} (P:{priority}) failed after {ms} ms: {e}")
        }
    }
}

/// How one job went, for the caller to record.
#[derive(Debug)]
struct Executed {
    /// Completed or failed (with why).
    outcome: Outcome,
    /// Time spent in `process_event`.
    elapsed: Duration,
    /// From the event's capture (its row's `created_at`: receipt of its frame) to the start
    /// of `process_event`; zero if the clocks disagree.
    lag: Duration,
}

/// Runs `process_event` for one job on its own task, so a panic or a hang in the service
/// cannot take the worker down: a panic becomes `Failed("panicked: …")`, and a call that
/// outlives `timeout` is aborted and becomes `Failed("timed out …")`.
async fn execute(service: &Arc<dyn QueueService>, job: &Arc<Job>, timeout: Duration) -> Executed {
    service.on_event_received(job).await;
    let lag = (core_models::models::now() - job.event().created_at)
        .to_std()
        .unwrap_or_default();
    let started = Instant::now();
    let task = {
        let service = service.clone();
        let job = job.clone();
        tokio::spawn(async move { service.process_event(&job).await })
    };
    let abort = task.abort_handle();
    // Abandoned mid-way (an operator's skip, the end of a stop's grace): the call stops too,
    // so a page still holding its delivery is told to drop it.
    let _abandoned = AbortOnDrop(abort.clone());
    let outcome = match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Ok(()))) => Outcome::Completed,
        Ok(Ok(Err(e))) => Outcome::Failed(format!("{e:#}")),
        Ok(Err(join)) if join.is_panic() => {
            Outcome::Failed(format!("panicked: {}", panic_message(join.into_panic())))
        }
        Ok(Err(join)) => Outcome::Failed(format!("cancelled: {join}")),
        Err(_) => {
            abort.abort();
            Outcome::Failed(format!("timed out after {} ms", timeout.as_millis()))
        }
    };
    let elapsed = started.elapsed();
    service.on_event_processed(job, &outcome).await;
    Executed {
        outcome,
        elapsed,
        lag,
    }
}

/// Aborts a task when dropped (a no-op once the task has finished).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
