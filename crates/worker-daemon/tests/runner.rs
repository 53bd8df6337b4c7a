//! The runner in-process with services of the test's own: a panicking service fails its
//! items and the runner goes on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{wait_until, Fixture};
use core_models::{Db, EventType, PoolOptions, QueueStatus, Service, ServiceKind};
use tokio::sync::watch;
use worker_daemon::runner::{self, RunnerContext};
use worker_daemon::services::{BuildError, Job, QueueService, ServiceEnv};
use worker_daemon::WorkerConfig;

/// Panics on likes, succeeds on everything else.
struct PanicsOnLikes;

#[async_trait]
impl QueueService for PanicsOnLikes {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        if job.event.event_type == EventType::Like {
            panic!("boom on item {}", job.item.id);
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
        let (stop, stop_rx) = watch::channel(false);
        let task = rt.spawn(runner::run_with(ctx, service, panicky, stop_rx));
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
        stop.send(true).unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
            .expect("runner stops")
            .expect("runner did not panic");
    }
}
