//! End-to-end latency: the simulator plays a steady stream over the real Webcast protocol, the
//! capture path stores and dispatches it, and the worker runner hands each item to a probe
//! service. The probe records, at `process_event` start, how long ago the event was stored
//! (`created_at`, stamped when the capture's transaction for its frame began).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use core_models::schema::services as sv;
use core_models::services::{self, NewService};
use core_models::{
    with_conn, Db, DbUrl, EventRoute, EventType, MaxQueueSize, PoolOptions, Priority, Service,
    ServiceKind, Setting,
};
use diesel::prelude::*;
use tokio::sync::watch;
use webcast::simulator::{Mix, RandomStream};
use webcast::{Simulator, SimulatorConfig};
use worker_daemon::runner::{self, RunnerContext};
use worker_daemon::services::{BuildError, Job, QueueService, ServiceEnv};
use worker_daemon::{owner_id, WorkerConfig};

use super::scratch::Scratch;

/// What the latency run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyResult {
    pub seconds: u64,
    pub events: usize,
    pub events_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latencies in milliseconds, filled by the probe (a factory is a plain fn, hence a static).
fn samples() -> &'static Mutex<Vec<f64>> {
    static SAMPLES: OnceLock<Mutex<Vec<f64>>> = OnceLock::new();
    SAMPLES.get_or_init(Mutex::default)
}

struct Probe;

#[async_trait]
impl QueueService for Probe {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let now = core_models::models::now();
        let ms = (now - job.event.created_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        samples().lock().unwrap_or_else(|p| p.into_inner()).push(ms);
        Ok(())
    }
}

fn probe(_: &Service, _: &ServiceEnv) -> Result<Arc<dyn QueueService>, BuildError> {
    Ok(Arc::new(Probe))
}

pub fn run(base: &DbUrl, rate: f64, seconds: u64) -> anyhow::Result<LatencyResult> {
    let scratch = Scratch::new(base, "latency")?;
    let mut conn = scratch.conn()?;
    // Only the probe consumes: the seeded services would just fill up.
    with_conn!(&mut conn, |c| diesel::update(sv::table)
        .set(sv::is_active.eq(false))
        .execute(c))?;
    let service = services::add(
        &mut conn,
        &NewService {
            name: "latency probe".into(),
            slug: "bench_probe".parse()?,
            kind: ServiceKind::Dummy,
            description: String::new(),
            is_active: true,
            max_queue_size: MaxQueueSize::new(i64::from(i32::MAX))?,
            settings: vec![Setting {
                key: "max_concurrency".into(),
                value: Some(serde_json::json!(32)),
            }],
            routes: EventType::INTERACTIVE
                .iter()
                .map(|&event_type| {
                    Ok(EventRoute {
                        event_type,
                        priority: Priority::new(5)?,
                        is_async: true,
                        is_discardable: false,
                        is_enabled: true,
                    })
                })
                .collect::<Result<_, core_models::ModelError>>()?,
        },
    )?
    .service;
    samples().lock().unwrap_or_else(|p| p.into_inner()).clear();

    let db = Db::connect(&scratch.url, PoolOptions::default())?;
    let config = Arc::new(WorkerConfig::new(owner_id()));
    let ctx = RunnerContext::new(db, config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let simulator = Simulator::start(SimulatorConfig {
            random: Some(RandomStream {
                rate_per_sec: rate,
                mix: Mix {
                    subscribe: 0,
                    viewers: 0,
                    ..Mix::default()
                },
                seed: Some(7),
            }),
            max_messages_per_frame: 10,
            ..SimulatorConfig::default()
        })
        .await?;
        let (stop, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(runner::run_with(ctx, service, probe, stop_rx.clone()));
        let args = super::super::simulated::capture_args(&simulator, &scratch.url, &["--quiet"])?;
        let capture = tokio::spawn(capture_daemon::capture::run(
            args,
            capture_daemon::capture::Shutdown::from_receiver(stop_rx),
        ));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let _ = stop.send(true);
        let _ = capture.await;
        let _ = worker.await;
        simulator.shutdown().await;
        anyhow::Ok(())
    })?;

    let mut ms = std::mem::take(&mut *samples().lock().unwrap_or_else(|p| p.into_inner()));
    anyhow::ensure!(!ms.is_empty(), "no event reached the probe service");
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    Ok(LatencyResult {
        seconds,
        events: ms.len(),
        events_per_sec: ms.len() as f64 / seconds as f64,
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
    })
}
