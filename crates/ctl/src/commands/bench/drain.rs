//! Drain: how fast the real worker runner claims and completes items of a no-op service, SYNC
//! and ASYNC, from a queue filled beforehand.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_models::{Db, PoolOptions};
use dispatcher::Engine;
use lifecycle::Shutdown;
use tokio::task::JoinHandle;
use worker_daemon::runner::{self, RunnerContext};
use worker_daemon::{owner_id, WorkerConfig};

use super::rate;
use super::scratch::filled_noop_queue;

/// What one drain run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DrainResult {
    pub mode: &'static str,
    pub items: usize,
    pub seconds: f64,
    pub items_per_sec: f64,
}

/// Fills a `dummy` service's queue with `items` items, then runs the worker's runner on it
/// until they are all completed.
pub fn measure(
    base: &core_models::DbUrl,
    items: usize,
    is_async: bool,
) -> anyhow::Result<DrainResult> {
    let mode = if is_async { "ASYNC" } else { "SYNC" };
    let slug = "bench_noop";
    let label = if is_async {
        "drain_async"
    } else {
        "drain_sync"
    };
    let (scratch, service) = filled_noop_queue(base, label, slug, items, is_async)?;

    let db = Db::connect(&scratch.url, PoolOptions::default())?;
    let config = Arc::new(WorkerConfig::new(owner_id()));
    let ctx = RunnerContext::new(db.clone(), config);
    let done = ctx.counters.service(slug);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let took = runtime.block_on(async move {
        let (stop, shutdown) = Shutdown::new();
        let service_id = service.id;
        let started = Instant::now();
        let runner = tokio::spawn(runner::own_service(ctx, service, shutdown));
        let completed = || done.completed.load(Ordering::Relaxed);
        let drained = until_recorded(&db, service_id, completed, items, &runner).await;
        let took = started.elapsed();
        stop.trigger();
        let _ = runner.await;
        drained.map(|()| took)
    })?;
    Ok(DrainResult {
        mode,
        items,
        seconds: took.as_secs_f64(),
        items_per_sec: rate(items, took),
    })
}

/// Waits until the runner has completed `items` items (as its counters say) and their
/// results are stored.
async fn until_recorded(
    db: &Db,
    service_id: i64,
    completed: impl Fn() -> u64,
    items: usize,
    runner: &JoinHandle<()>,
) -> anyhow::Result<()> {
    while completed() < items as u64 {
        if runner.is_finished() {
            anyhow::bail!("the runner stopped before the queue was drained");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Done means recorded: results are written in batches, so wait for the last one.
    while recorded(db, service_id).await? < items as i64 {
        if runner.is_finished() {
            anyhow::bail!("the runner stopped before recording every result");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Completed items of the service, as stored.
async fn recorded(db: &Db, service_id: i64) -> anyhow::Result<i64> {
    db.run(move |c| {
        let stats = Engine::new(c).stats(Some(service_id))?;
        Ok(stats.first().map_or(0, |s| s.completed))
    })
    .await
}
