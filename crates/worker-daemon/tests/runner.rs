//! The runner in-process with services of the test's own: a panicking service fails its
//! items and the runner goes on; a slow SYNC service takes a late gift next.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{wait_until, Fixture};
use core_models::{Db, EventType, PoolOptions, QueueStatus, Service, ServiceKind};
use lifecycle::Shutdown;
use worker_daemon::runner::{self, RunnerContext};
use worker_daemon::services::{BuildError, QueueService, ServiceEnv};
use worker_daemon::{Job, WorkerConfig};

/// Panics on likes, succeeds on everything else.
struct PanicsOnLikes;

#[async_trait]
impl QueueService for PanicsOnLikes {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        if job.event().event_type == EventType::Like {
            panic!("boom on item {}", job.item().id);
        }
        Ok(())
    }
}

fn panicky(_: &Service, _: &ServiceEnv) -> Result<Arc<dyn QueueService>, BuildError> {
    Ok(Arc::new(PanicsOnLikes))
}

#[test]
fn a_panicking_service_fails_its_items_and_the_runner_goes_on() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "panicky",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10), (EventType::Like, 2)],
        );
        fx.enqueue(&[
            EventType::Like,
            EventType::Gift,
            EventType::Like,
            EventType::Gift,
        ]);
        let db = Db::connect(fx.db.db_url(), PoolOptions::default()).unwrap();
        let service = core_models::services::find(&mut fx.conn(), "panicky").unwrap();
        let mut config = WorkerConfig::new("test:1:0001".into());
        config.refresh = Duration::from_millis(200);
        let ctx = RunnerContext::new(db, Arc::new(config));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (stop, stop_rx) = Shutdown::new();
        let task = rt.spawn(runner::own_service_with(ctx, service, panicky, stop_rx));
        wait_until(Duration::from_secs(30), "all four processed", || {
            let s = fx.stats(id);
            s.completed == 2 && s.failed == 2
        });
        for item in fx.items(id) {
            if item.status == QueueStatus::Failed {
                let err = item.last_error.unwrap();
                assert!(err.starts_with("panicked: boom on item"), "{err}");
            }
        }
        stop.trigger();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
            .expect("runner stops")
            .expect("runner did not panic");
    }
}

/// Event types in the order `Slow` started them.
static STARTED: std::sync::Mutex<Vec<EventType>> = std::sync::Mutex::new(Vec::new());

/// Takes 300 ms per item, like a dino jump, and notes what it started.
struct Slow;

#[async_trait]
impl QueueService for Slow {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        STARTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job.event().event_type);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }
}

fn slow(_: &Service, _: &ServiceEnv) -> Result<Arc<dyn QueueService>, BuildError> {
    Ok(Arc::new(Slow))
}

/// A slow SYNC service claims one item at a time, so a gift that arrives while a like runs
/// goes next, not after likes claimed in the same batch.
#[test]
fn a_gift_arriving_during_slow_sync_work_goes_next() {
    for mut fx in Fixture::all() {
        STARTED.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let id = fx.add_service(
            "slow_sync",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10), (EventType::Like, 2)],
        );
        fx.enqueue(&[EventType::Like; 4]);
        let db = Db::connect(fx.db.db_url(), PoolOptions::default()).unwrap();
        let service = core_models::services::find(&mut fx.conn(), "slow_sync").unwrap();
        let ctx = RunnerContext::new(db, Arc::new(WorkerConfig::new("test:1:0002".into())));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (stop, stop_rx) = Shutdown::new();
        let task = rt.spawn(runner::own_service_with(ctx, service, slow, stop_rx));
        let started = || STARTED.lock().unwrap_or_else(|p| p.into_inner()).len();
        wait_until(Duration::from_secs(30), "the first like started", || {
            started() >= 1
        });
        // Sure to land while that like runs, or the next (each takes 300 ms).
        fx.enqueue(&[EventType::Gift]);
        wait_until(Duration::from_secs(30), "all five processed", || {
            fx.stats(id).completed == 5
        });
        let order = STARTED.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let gift_at = order.iter().position(|t| *t == EventType::Gift);
        assert!(
            matches!(gift_at, Some(1) | Some(2)),
            "the gift waited behind claimed likes: {order:?}"
        );
        stop.trigger();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
            .expect("runner stops")
            .expect("runner did not panic");
    }
}
