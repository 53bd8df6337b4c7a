//! Processing one job: hooks, the per-event timeout, panic capture, and the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::services::{Job, Outcome, QueueService};

/// How one job went, for the caller to record.
#[derive(Debug)]
pub struct Executed {
    /// Completed or failed (with why).
    pub outcome: Outcome,
    /// Time spent in `process_event`.
    pub elapsed: Duration,
    /// From the event's capture (its row's `created_at`: receipt of its frame) to the start
    /// of `process_event`; zero if the clocks disagree.
    pub lag: Duration,
}

/// Runs `process_event` for one job on its own task, so a panic or a hang in the service
/// cannot take the worker down: a panic becomes `Failed("panicked: …")`, and a call that
/// outlives `timeout` is aborted and becomes `Failed("timed out …")`.
pub async fn execute(
    service: &Arc<dyn QueueService>,
    job: &Arc<Job>,
    timeout: Duration,
) -> Executed {
    service.on_event_received(job).await;
    let lag = (core_models::models::now() - job.event.created_at)
        .to_std()
        .unwrap_or_default();
    let started = Instant::now();
    let task = {
        let service = service.clone();
        let job = job.clone();
        tokio::spawn(async move { service.process_event(&job).await })
    };
    let abort = task.abort_handle();
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

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
