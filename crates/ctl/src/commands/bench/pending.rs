//! Pending size: what it costs dispatch to know whether a queue is full. The original counted
//! every pending row per event; dispatch reads at most `max_queue_size` index entries per
//! service per frame, so a queue that overflows with gifts does not slow ingest down.
//!
//! The `COUNT(*)` below is the original's way, written here on purpose, outside the queue
//! engine (which never counts a whole queue): it is the baseline the engine's bounded count is
//! measured against, like the plain INSERTs of `ingest`.

use std::time::{Duration, Instant};

use core_models::schema::event_queue as eq;
use core_models::{with_conn, QueueStatus};
use diesel::prelude::*;
use dispatcher::Engine;

use super::scratch::filled_noop_queue;

/// The queue limit the bounded count stops at (the seed's largest).
const LIMIT: u64 = 100;
/// Timed repetitions of each count.
const ROUNDS: u32 = 500;

/// What the pending-size run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingResult {
    /// Pending items in the queue.
    pub pending: usize,
    /// The queue limit the bounded count stops at.
    pub limit: u64,
    /// One bounded count (what dispatch does), in microseconds.
    pub bounded_us: f64,
    /// One `COUNT(*)` of the pending rows (what the original did per event), in microseconds.
    pub count_all_us: f64,
}

/// Fills a queue with `pending` items and times both ways of sizing it.
pub fn measure(base: &core_models::DbUrl, pending: usize) -> anyhow::Result<PendingResult> {
    let (scratch, service) = filled_noop_queue(base, "pending", "bench_pending", pending, false)?;
    let mut conn = scratch.conn()?;
    let service_id = service.id;

    let bounded = time(|| {
        Engine::new(&mut conn).pending_at_most(service_id, LIMIT)?;
        Ok(())
    })?;
    let count_all = time(|| {
        with_conn!(&mut conn, |c| eq::table
            .filter(eq::service_id.eq(service_id))
            .filter(eq::status.eq(QueueStatus::Pending))
            .count()
            .get_result::<i64>(c))?;
        Ok(())
    })?;
    Ok(PendingResult {
        pending,
        limit: LIMIT,
        bounded_us: micros(bounded),
        count_all_us: micros(count_all),
    })
}

fn time(mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    f()?; // warm the cache and the statement
    let started = Instant::now();
    for _ in 0..ROUNDS {
        f()?;
    }
    Ok(started.elapsed())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(ROUNDS)
}
