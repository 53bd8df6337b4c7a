//! One service's lifecycle in this daemon: stand by until it holds the service's lease, start
//! the service, claim and process its queue, and stop cleanly.
//!
//! ```text
//! standby ──lease acquired──▶ starting ──on_start ok──▶ serving ──stop / lease lost──▶ draining ──▶ standby | stopped
//!    ▲                           │ on_start failed (retried after a pause)
//!    └───────────────────────────┘
//! ```

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_models::Service;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::execute::execute;
use crate::outcomes::{self, Outcomes};
use crate::queue_client::QueueClient;
use crate::services::{self, Job, Outcome, QueueService, RunLimits, ServiceEnv};
use crate::stats::{Counters, ServiceCounters};
use crate::WorkerConfig;

/// Longest pause between empty polls; the wake-up latency bound when idle.
const IDLE_POLL_MAX: Duration = Duration::from_millis(100);
/// First pause after an empty poll; doubles up to [`IDLE_POLL_MAX`].
const IDLE_POLL_MIN: Duration = Duration::from_millis(2);
/// Right after a claim that found work, a busy LIVE's next frame is a few milliseconds away:
/// empty polls stay [`IDLE_POLL_MIN`] apart for this long.
const BUSY_WINDOW: Duration = Duration::from_millis(20);
/// While the service had work this recently the LIVE is on: pauses stay at most
/// [`WARM_POLL_MAX`]. A quiet service backs off to [`IDLE_POLL_MAX`], a few polls per second.
const WARM_WINDOW: Duration = Duration::from_secs(1);
/// Longest pause between empty polls within [`WARM_WINDOW`]: bounds the lag polling adds to
/// a light stream without polling it every 2 ms.
const WARM_POLL_MAX: Duration = Duration::from_millis(10);
/// Most items claimed in one round trip.
const CLAIM_BATCH_MAX: usize = 256;
/// A claim takes about what the service gets through in this long at its recent pace: a
/// round trip's cost is shared by many fast items, while a slow SYNC service claims one item
/// at a time, so an event arriving meanwhile is never stuck behind lower-priority items
/// claimed earlier.
const CLAIM_HORIZON: Duration = Duration::from_millis(5);
/// Longest an ASYNC runner with a backlog waits for busy slots to free up before its next
/// round trip, so that round trip records and claims a useful batch instead of one item.
const GATHER_MAX: Duration = Duration::from_millis(2);

/// Everything a runner needs from its daemon.
#[derive(Clone)]
pub struct RunnerContext {
    /// Database access.
    pub queue: QueueClient,
    /// Daemon settings.
    pub config: Arc<WorkerConfig>,
    /// Shared counters.
    pub counters: Counters,
    /// What services get from the daemon (the browser pages).
    pub env: ServiceEnv,
}

impl RunnerContext {
    /// A context with fresh counters and service environment, acting as `config.owner`.
    pub fn new(db: core_models::Db, config: Arc<WorkerConfig>) -> RunnerContext {
        RunnerContext {
            queue: QueueClient::new(db, config.owner.clone()),
            config,
            counters: Counters::default(),
            env: services::ServiceEnv::default(),
        }
    }
}

/// Builds the running service from its row.
pub type Factory = fn(&Service, &ServiceEnv) -> Result<Arc<dyn QueueService>, services::BuildError>;

/// Runs one service until `stop` turns true.
pub async fn run(ctx: RunnerContext, service: Service, stop: watch::Receiver<bool>) {
    run_with(ctx, service, services::build, stop).await
}

/// [`run`] with the service built by `factory` (tests plug in their own services here).
pub async fn run_with(
    ctx: RunnerContext,
    service: Service,
    factory: Factory,
    mut stop: watch::Receiver<bool>,
) {
    let slug = service.slug.clone();
    let limits = RunLimits::from_settings(&service.settings_map());
    let counters = ctx.counters.service(&slug);
    let mut retry_pause = ctx.config.refresh;
    while !*stop.borrow() {
        let built = match factory(&service, &ctx.env) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(service = %slug, "cannot run service {slug}: {e}; retrying in {:.1}s", retry_pause.as_secs_f64());
                pause(&mut stop, retry_pause).await;
                retry_pause = (retry_pause * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        match ctx
            .queue
            .acquire_service(service.id, ctx.config.service_lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(service = %slug, "standing by: another daemon owns it");
                pause(&mut stop, ctx.config.refresh).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(service = %slug, "cannot take the service lease: {e:#}");
                pause(&mut stop, ctx.config.refresh).await;
                continue;
            }
        }
        if let Err(e) = built.on_start().await {
            tracing::error!(service = %slug, "service {slug} failed to start: {e:#}; retrying in {:.1}s", retry_pause.as_secs_f64());
            let _ = ctx.queue.release_service(service.id).await;
            pause(&mut stop, retry_pause).await;
            retry_pause = (retry_pause * 2).min(Duration::from_secs(60));
            continue;
        }
        retry_pause = ctx.config.refresh;
        tracing::info!(service = %slug, "serving {} ({})", service.name, service.service_class);
        let ended = serve(&ctx, &service, &built, limits, &counters, &mut stop).await;
        built.on_stop().await;
        if let Err(e) = ctx.queue.release_service(service.id).await {
            tracing::warn!(service = %slug, "cannot release the service lease: {e:#}");
        }
        match ended {
            Ended::Stopped => break,
            Ended::LeaseLost => {
                tracing::warn!(service = %slug, "lost the service lease; standing by");
            }
        }
    }
    tracing::info!(service = %slug, "service {slug} stopped");
}

async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) {
    let _ = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
}

enum Ended {
    Stopped,
    LeaseLost,
}

/// Items this runner holds, so they can be renewed while running and released on stop. An
/// item leaves only once its outcome is recorded (or it is released): a finished item whose
/// outcome still waits in the [`Outcomes`] buffer is `processing` in the database and keeps
/// its lease renewed.
#[derive(Default)]
struct Held {
    ids: Mutex<HashSet<i64>>,
}

impl Held {
    fn add(&self, id: i64) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }
    fn remove_all(&self, ids: &[i64]) {
        let mut held = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            held.remove(id);
        }
    }
    fn all(&self) -> Vec<i64> {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

async fn serve(
    ctx: &RunnerContext,
    service: &Service,
    svc: &Arc<dyn QueueService>,
    limits: RunLimits,
    counters: &Arc<ServiceCounters>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let slots = Arc::new(Semaphore::new(limits.max_concurrency));
    let held = Arc::new(Held::default());
    let done = Arc::new(Outcomes::default());
    let (quit_flusher, quit) = tokio::sync::oneshot::channel();
    let flusher = {
        let held = held.clone();
        tokio::spawn(outcomes::run_flusher(
            ctx.queue.clone(),
            done.clone(),
            service.slug.clone(),
            move |ids| held.remove_all(&ids),
            quit,
        ))
    };
    // The leases are renewed on their own task: a SYNC item running longer than a lease (a
    // dino jump waiting for its page, a webhook retrying) must not let a standby daemon take
    // the service, or its items, over while this daemon is still at work.
    let (lease_lost, mut lost) = watch::channel(false);
    let (quit_heartbeat, quit) = tokio::sync::oneshot::channel();
    let heartbeat = tokio::spawn(heartbeat(
        ctx.clone(),
        service.clone(),
        held.clone(),
        lease_lost,
        quit,
    ));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut idle = IDLE_POLL_MIN;
    let mut last_work = Instant::now();
    // Whether the last claim brought only ASYNC items (they run side by side).
    let mut async_last = false;
    // Whether the last claim took all it asked for (so more is probably pending).
    let mut backlog = false;
    let mut next_rescue = Instant::now();

    let ended = loop {
        if *stop.borrow() {
            break Ended::Stopped;
        }
        if *lost.borrow() {
            break Ended::LeaseLost;
        }
        while running.try_join_next().is_some() {}

        let now = Instant::now();
        if now >= next_rescue {
            next_rescue = now + ctx.config.refresh;
            match ctx
                .queue
                .rescue_expired(service.id, limits.max_attempts)
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(service = %service.slug, "rescued {n} item(s) whose worker died")
                }
                Err(e) => tracing::warn!(service = %service.slug, "rescue failed: {e:#}"),
            }
        }

        // A round trip costs about the same for one item as for a batch: with a backlog and
        // most ASYNC slots still busy, let more items finish first (briefly: fast items free
        // their slots within microseconds, slow ones are not waited for).
        let half_batch = limits.max_concurrency.min(CLAIM_BATCH_MAX).div_ceil(2);
        if backlog && slots.available_permits() < half_batch {
            let until = tokio::time::Instant::now() + GATHER_MAX;
            while slots.available_permits() < half_batch && !running.is_empty() {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep_until(until) => break,
                }
            }
        }
        let free = slots.available_permits();
        if free == 0 {
            // Every ASYNC slot is busy with a slow item: record what is done now rather than
            // with a claim that may be far off, then wait for a slot to free up (or stop).
            match outcomes::flush(&ctx.queue, &done, &service.slug).await {
                Ok(ids) => held.remove_all(&ids),
                Err(e) => {
                    tracing::warn!(service = %service.slug, "cannot record results (will retry): {e:#}")
                }
            }
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.wait_for(|s| *s) => {}
                _ = lost.wait_for(|l| *l) => {}
            }
            continue;
        }

        // Everything finished since the last round trip is recorded with this claim.
        let batch = done.take();
        let recorded = outcomes::ids_of(&batch);
        let want = claim_size(counters.avg_item_time(), free, async_last);
        let jobs = match ctx
            .queue
            .finish_and_claim(service, batch.clone(), want, ctx.config.item_lease)
            .await
        {
            Ok((finished, jobs)) => {
                outcomes::warn_not_held(&service.slug, &finished);
                held.remove_all(&recorded);
                jobs
            }
            Err(e) => {
                tracing::warn!(service = %service.slug, "claim failed: {e:#}");
                done.put_back(batch);
                pause(stop, Duration::from_millis(500)).await;
                continue;
            }
        };
        // A full batch suggests more is pending.
        backlog = jobs.len() == want;
        if !jobs.is_empty() {
            async_last = jobs.iter().all(|j| j.item.is_async);
        }
        if jobs.is_empty() {
            pause(stop, idle).await;
            idle = next_idle(idle, last_work.elapsed());
            continue;
        }
        idle = IDLE_POLL_MIN;
        last_work = Instant::now();

        let mut jobs = jobs.into_iter();
        for job in jobs.by_ref() {
            held.add(job.item.id);
            let job = Arc::new(job);
            if job.item.is_async {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (ctx, svc, done, counters) =
                    (ctx.clone(), svc.clone(), done.clone(), counters.clone());
                running.spawn(async move {
                    process(&ctx, &svc, &job, limits, &counters, &done).await;
                    drop(permit);
                });
            } else {
                // SYNC: this item finishes before anything else is claimed or started. A stop
                // while it runs gives it the shutdown grace; past that it is abandoned (no
                // outcome), stays in `held`, and is released below like every item not
                // finished.
                let work = process(ctx, svc, &job, limits, counters, &done);
                tokio::pin!(work);
                let stopped = tokio::select! {
                    () = &mut work => false,
                    // A stop (or its sender gone). The watch guard must not live on across
                    // the grace wait below.
                    r = stop.wait_for(|s| *s) => {
                        drop(r);
                        true
                    }
                };
                if stopped {
                    let _ = tokio::time::timeout(ctx.config.shutdown_grace, &mut work).await;
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        // Claimed but not started (stop arrived mid-batch): back to pending, attempt uncounted.
        let unstarted: Vec<i64> = jobs.map(|j| j.item.id).collect();
        held.remove_all(&unstarted);
        if let Err(e) = ctx.queue.release(unstarted).await {
            tracing::warn!(service = %service.slug, "cannot release unstarted items: {e:#}");
        }
    };

    // Drain: in-flight items get a bounded time to finish; the rest are released.
    let grace = tokio::time::sleep(ctx.config.shutdown_grace);
    tokio::pin!(grace);
    while !running.is_empty() {
        tokio::select! {
            _ = running.join_next() => {}
            _ = &mut grace => {
                running.abort_all();
                while running.join_next().await.is_some() {}
                break;
            }
        }
    }
    // Outcomes are recorded before anything is released, so no finished item goes back to
    // pending to run again. The flusher finishes a write in progress before it quits; the
    // heartbeat stops renewing once nothing runs any more.
    let _ = quit_heartbeat.send(());
    if let Err(e) = heartbeat.await {
        tracing::warn!(service = %service.slug, "the lease heartbeat ended abnormally: {e}");
    }
    let _ = quit_flusher.send(());
    if let Err(e) = flusher.await {
        tracing::warn!(service = %service.slug, "the result flusher ended abnormally: {e}");
    }
    match outcomes::flush(&ctx.queue, &done, &service.slug).await {
        Ok(ids) => held.remove_all(&ids),
        Err(e) => {
            tracing::error!(service = %service.slug, "cannot record {} result(s) at shutdown: {e:#}; those items go back to pending and will run again", done.len())
        }
    }
    let left = held.all();
    if !left.is_empty() {
        // Nothing is lost (they go back to pending, their attempt not counted): an item
        // waiting for a page or a slow one cut off by the grace is a normal part of stopping.
        tracing::info!(service = %service.slug, "{} unfinished item(s) go back to the queue", left.len());
        if let Err(e) = ctx.queue.release(left).await {
            tracing::warn!(service = %service.slug, "cannot release items: {e:#}");
        }
    }
    ended
}

/// Renews the service lease and the leases of the items this runner holds, every third of
/// the shorter lease, until `quit`. Sets `lost` when another daemon owns the service (this
/// one's lease ran out, e.g. through a long database outage); item leases are still renewed
/// then, so the items already running finish here instead of running twice.
async fn heartbeat(
    ctx: RunnerContext,
    service: Service,
    held: Arc<Held>,
    lost: watch::Sender<bool>,
    mut quit: tokio::sync::oneshot::Receiver<()>,
) {
    let every = (ctx.config.service_lease / 3).min(ctx.config.item_lease / 3);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut quit => return,
        }
        match ctx
            .queue
            .acquire_service(service.id, ctx.config.service_lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                lost.send_replace(true);
            }
            // A database hiccup: keep going; the lease outlives a few missed beats.
            Err(e) => tracing::warn!(service = %service.slug, "lease renewal failed: {e:#}"),
        }
        let ids = held.all();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = ctx.queue.renew(ids, ctx.config.item_lease).await {
            tracing::warn!(service = %service.slug, "item lease renewal failed: {e:#}");
        }
    }
}

/// The pause after another empty poll: doubled, within a ceiling that grows with the time
/// since the last claim that found work ([`BUSY_WINDOW`], [`WARM_WINDOW`]). A busy LIVE is
/// polled every 2 ms, a light one at most every 10 ms, a quiet service every 100 ms.
fn next_idle(idle: Duration, since_work: Duration) -> Duration {
    let ceiling = if since_work < BUSY_WINDOW {
        IDLE_POLL_MIN
    } else if since_work < WARM_WINDOW {
        WARM_POLL_MAX
    } else {
        IDLE_POLL_MAX
    };
    (idle * 2).min(ceiling)
}

/// Items to ask for in one claim: what the service gets through in [`CLAIM_HORIZON`] at its
/// recent pace per item (`avg`; one item while unknown), and at least the free ASYNC slots
/// after an ASYNC claim (they start together), within `1..=CLAIM_BATCH_MAX`.
fn claim_size(avg: Option<Duration>, free: usize, async_last: bool) -> usize {
    let paced = avg.map_or(1, |avg| {
        let per_horizon = CLAIM_HORIZON.as_secs_f64() / avg.as_secs_f64().max(1e-9);
        per_horizon.min(CLAIM_BATCH_MAX as f64) as usize
    });
    let n = if async_last { paced.max(free) } else { paced };
    n.clamp(1, CLAIM_BATCH_MAX)
}

/// Runs one job and buffers its outcome in `done` (recorded with the next claim, or by the
/// flusher); counts it and prints its `--verbose` line at once.
async fn process(
    ctx: &RunnerContext,
    svc: &Arc<dyn QueueService>,
    job: &Arc<Job>,
    limits: RunLimits,
    counters: &ServiceCounters,
    done: &Outcomes,
) {
    counters.in_flight.fetch_add(1, Ordering::Relaxed);
    let ran = execute(svc, job, limits.timeout).await;
    counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    counters.lag.record(ran.lag);
    counters.record_item_time(ran.elapsed);
    let item = &job.item;
    match &ran.outcome {
        Outcome::Completed => {
            counters.completed.fetch_add(1, Ordering::Relaxed);
            done.push(item.id, dispatcher::Outcome::Completed);
        }
        Outcome::Failed(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(service = %job.service_slug, item = item.id, "{} failed: {e}", job.event.event_type);
            done.push(item.id, dispatcher::Outcome::Failed(e.clone()));
        }
    }
    if ctx.config.verbose {
        let ms = ran.elapsed.as_millis();
        match &ran.outcome {
            Outcome::Completed => println!(
                "✅ [{}] {} (P:{}) completed in {ms} ms",
                job.service_name, job.event.event_type, item.priority
            ),
            Outcome::Failed(e) => println!(
                "❌ [{}] {} (P:{}) failed after {ms} ms: {e}",
                job.service_name, job.event.event_type, item.priority
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_slow_down_as_the_last_work_recedes() {
        let ms = Duration::from_millis;
        assert_eq!(next_idle(ms(2), ms(5)), ms(2), "busy: every 2 ms");
        assert_eq!(next_idle(ms(2), ms(100)), ms(4), "warm: doubling");
        assert_eq!(next_idle(ms(8), ms(500)), ms(10), "warm: capped at 10 ms");
        assert_eq!(
            next_idle(ms(64), ms(5_000)),
            ms(100),
            "quiet: capped at 100 ms"
        );
        assert_eq!(next_idle(ms(100), ms(5)), ms(2), "work again: back to 2 ms");
    }

    #[test]
    fn claims_follow_the_service_pace() {
        let ms = Duration::from_millis;
        // Unknown pace: one item.
        assert_eq!(claim_size(None, 8, false), 1);
        // A slow SYNC service (a dino jump takes ~1 s): one at a time, whatever is free.
        assert_eq!(claim_size(Some(ms(900)), 8, false), 1);
        // A slow ASYNC service: every free slot.
        assert_eq!(claim_size(Some(ms(900)), 8, true), 8);
        // 1 ms per item: what fits in the horizon.
        assert_eq!(claim_size(Some(ms(1)), 8, false), 5);
        // A no-op: the batch bound.
        assert_eq!(
            claim_size(Some(Duration::from_micros(2)), 8, false),
            CLAIM_BATCH_MAX
        );
        assert_eq!(claim_size(Some(Duration::ZERO), 0, true), CLAIM_BATCH_MAX);
    }
}
