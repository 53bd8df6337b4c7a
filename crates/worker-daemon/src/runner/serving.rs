//! A runner while this daemon owns its service: claim the queue by priority and process the
//! items, SYNC one at a time or ASYNC side by side, until it is stopped or loses the lease;
//! then drain.
//!
//! Each turn of the loop: reap the ASYNC items that finished, bring back the items of dead
//! workers when due, let a backlog gather a useful batch, then one round trip that records
//! what finished and claims what comes next, and start it. Beside the loop, for as long as it
//! serves, the heartbeat renews the leases and the flusher records outcomes the loop has not
//! picked up.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_models::Service;
use lifecycle::{Shutdown, Trigger};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::context::RunnerContext;
use super::item::Processor;
use super::leases::{Heartbeat, Held};
use super::outcomes::{ids_of, Outcomes, Recorder};
use super::pacing::{Pacing, GATHER_MAX};
use crate::job::Job;
use crate::services::{QueueService, RunLimits};

/// Pause after a failed round trip (the outcomes it carried wait for the next).
const CLAIM_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Why serving ended.
pub(super) enum Ended {
    /// The runner was told to stop.
    Stopped,
    /// Another daemon owns the service now.
    LeaseLost,
}

/// One serving period of a runner.
pub(super) struct Serving {
    ctx: RunnerContext,
    service: Arc<Service>,
    limits: RunLimits,
    /// The runner's stop.
    stop: Shutdown,
    /// Fires when the heartbeat finds another daemon owns the service.
    lease_lost: Shutdown,
    /// One per ASYNC item in flight, at most `max_concurrency`.
    slots: Arc<Semaphore>,
    /// The ASYNC items in flight.
    running: JoinSet<()>,
    held: Arc<Held>,
    processor: Arc<Processor>,
    recorder: Recorder,
    pacing: Pacing,
    next_rescue: Instant,
    heartbeat: Helper,
    flusher: Helper,
}

impl Serving {
    /// Starts serving `service` with `built`, its flusher and heartbeat with it, until `stop`.
    pub(super) fn begin(
        ctx: &RunnerContext,
        service: &Arc<Service>,
        built: Arc<dyn QueueService>,
        stop: &Shutdown,
    ) -> Serving {
        let limits = RunLimits::from_settings(&service.settings_map());
        let held = Arc::new(Held::default());
        let outcomes = Arc::new(Outcomes::default());
        let recorder = Recorder::new(
            ctx.queue.clone(),
            outcomes.clone(),
            held.clone(),
            &service.slug,
        );
        let flusher = Helper::spawn("result flusher", {
            let recorder = recorder.clone();
            |quit| recorder.flush_lingering(quit)
        });
        let (lease_lost_trigger, lease_lost) = Shutdown::new();
        let heartbeat = Heartbeat {
            queue: ctx.queue.clone(),
            service: service.clone(),
            held: held.clone(),
            service_lease: ctx.config.service_lease,
            item_lease: ctx.config.item_lease,
            lease_lost: lease_lost_trigger,
            skips: ctx.skips.clone(),
        };
        let heartbeat = Helper::spawn("lease heartbeat", |quit| heartbeat.beat_until(quit));
        let processor = Arc::new(Processor {
            service: built,
            timeout: limits.timeout,
            counters: ctx.counters.service(&service.slug),
            outcomes,
            verbose: ctx.config.verbose,
        });
        Serving {
            ctx: ctx.clone(),
            service: service.clone(),
            limits,
            stop: stop.clone(),
            lease_lost,
            slots: Arc::new(Semaphore::new(limits.max_concurrency)),
            running: JoinSet::new(),
            held,
            processor,
            recorder,
            pacing: Pacing::new(),
            next_rescue: Instant::now(),
            heartbeat,
            flusher,
        }
    }

    /// Claims and processes until stopped or the lease is lost, then drains.
    pub(super) async fn serve(mut self) -> Ended {
        let ended = loop {
            if self.stop.is_triggered() {
                break Ended::Stopped;
            }
            if self.lease_lost.is_triggered() {
                break Ended::LeaseLost;
            }
            while self.running.try_join_next().is_some() {}
            self.rescue_if_due().await;
            self.gather_if_backlogged().await;
            let free = self.slots.available_permits();
            if free == 0 {
                self.wait_for_a_slot().await;
                continue;
            }
            let Some(jobs) = self.finish_and_claim(free).await else {
                continue;
            };
            if jobs.is_empty() {
                self.stop.sleep(self.pacing.idle()).await;
                self.pacing.slept();
                continue;
            }
            self.start(jobs).await;
        };
        self.drain().await;
        ended
    }

    /// Brings back this service's items whose worker died, every `refresh`.
    async fn rescue_if_due(&mut self) {
        let now = Instant::now();
        if now < self.next_rescue {
            return;
        }
        self.next_rescue = now + self.ctx.config.refresh;
        let slug = &self.service.slug;
        match self
            .ctx
            .queue
            .rescue_expired(self.service.id, self.limits.max_attempts)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(service = %slug, "rescued {n} item(s) whose worker died"),
            Err(e) => tracing::warn!(service = %slug, "rescue failed: {e:#}"),
        }
    }

    /// A round trip costs about the same for one item as for a batch: with a backlog and most
    /// ASYNC slots still busy, lets more items finish first (briefly: fast items free their
    /// slots within microseconds, slow ones are not waited for).
    async fn gather_if_backlogged(&mut self) {
        let Some(target) = self.pacing.gather_target(self.limits.max_concurrency) else {
            return;
        };
        let until = tokio::time::Instant::now() + GATHER_MAX;
        while self.slots.available_permits() < target && !self.running.is_empty() {
            tokio::select! {
                _ = self.running.join_next() => {}
                () = self.stop.wait() => break,
                () = tokio::time::sleep_until(until) => break,
            }
        }
    }

    /// Every ASYNC slot is busy with a slow item: records what is done now rather than with a
    /// claim that may be far off, then waits for a slot to free up (or a stop, or the lease
    /// lost).
    async fn wait_for_a_slot(&mut self) {
        if let Err(e) = self.recorder.flush().await {
            tracing::warn!(service = %self.service.slug, "cannot record results (will retry): {e:#}");
        }
        tokio::select! {
            _ = self.running.join_next() => {}
            () = self.stop.wait() => {}
            () = self.lease_lost.wait() => {}
        }
    }

    /// One round trip: records everything finished since the last one and claims what the
    /// service gets through next. `None` when it failed (after a pause; the outcomes wait for
    /// the next try).
    async fn finish_and_claim(&mut self, free: usize) -> Option<Vec<Job>> {
        let batch = self.recorder.take();
        let recorded = ids_of(&batch);
        let want = self
            .pacing
            .claim_size(self.processor.counters.avg_item_time(), free);
        self.pacing.polling();
        let round_trip = self.ctx.queue.finish_and_claim(
            self.service.id,
            batch.clone(),
            want,
            self.ctx.config.item_lease,
        );
        match round_trip.await {
            Ok((finished, claimed)) => {
                self.recorder.written(&recorded, &finished);
                let all_async = claimed.iter().all(|c| c.item.is_async);
                self.pacing.claimed(claimed.len(), want, all_async);
                let service = &self.service;
                Some(
                    claimed
                        .into_iter()
                        .map(|c| Job::new(c, service.clone()))
                        .collect(),
                )
            }
            Err(e) => {
                tracing::warn!(service = %self.service.slug, "claim failed: {e:#}");
                self.recorder.put_back(batch);
                self.stop.sleep(CLAIM_RETRY_PAUSE).await;
                None
            }
        }
    }

    /// Starts the claimed jobs in order: an ASYNC one on a task of its own once a slot is
    /// free, a SYNC one to its end before the next. A stop in between sends the rest back.
    async fn start(&mut self, jobs: Vec<Job>) {
        let mut jobs = jobs.into_iter();
        for job in jobs.by_ref() {
            self.held.add(job.item().id);
            let job = Arc::new(job);
            if job.item().is_async {
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    break;
                };
                let processor = self.processor.clone();
                self.running.spawn(async move {
                    processor.process(&job).await;
                    drop(permit);
                });
            } else {
                self.run_sync(&job).await;
            }
            if self.stop.is_triggered() {
                break;
            }
        }
        // Claimed but not started (stop arrived mid-batch): back to pending, attempt uncounted.
        let unstarted: Vec<i64> = jobs.map(|j| j.item().id).collect();
        self.held.remove_all(&unstarted);
        if let Err(e) = self.ctx.queue.release(unstarted).await {
            tracing::warn!(service = %self.service.slug, "cannot release unstarted items: {e:#}");
        }
    }

    /// A SYNC job finishes before anything else is claimed or started. A stop while it runs
    /// gives it the shutdown grace; past that it is abandoned (no outcome), stays held, and
    /// is released at the drain like every item not finished. An operator's skip abandons it
    /// at once: the database has already marked it failed (reason `skipped`).
    async fn run_sync(&mut self, job: &Arc<Job>) {
        let mut skips = self.ctx.skips.listen();
        let id = job.item().id;
        let work = self.processor.process(job);
        tokio::pin!(work);
        let stopped = tokio::select! {
            () = &mut work => false,
            () = self.stop.wait() => true,
            () = skips.skipped(id) => {
                tracing::info!(service = %self.service.slug, item = id, "skipped by an operator");
                self.held.remove_all(&[id]);
                return;
            }
        };
        if stopped {
            let _ = tokio::time::timeout(self.ctx.config.shutdown_grace, &mut work).await;
        }
    }

    /// In-flight items get the shutdown grace to finish; their outcomes are recorded before
    /// anything is released, so no finished item goes back to pending to run again; whatever
    /// is still held then goes back to the queue.
    async fn drain(mut self) {
        let slug = self.service.slug.clone();
        self.let_running_finish().await;
        // The heartbeat stops renewing once nothing runs any more; the flusher finishes a
        // write in progress before it quits.
        self.heartbeat.stop(&slug).await;
        self.flusher.stop(&slug).await;
        if let Err(e) = self.recorder.flush().await {
            tracing::error!(service = %slug, "cannot record {} result(s) at shutdown: {e:#}; those items go back to pending and will run again", self.recorder.waiting());
        }
        let left = self.held.all();
        if !left.is_empty() {
            // Nothing is lost (they go back to pending, their attempt not counted): an item
            // waiting for a page or a slow one cut off by the grace is a normal part of
            // stopping.
            tracing::info!(service = %slug, "{} unfinished item(s) go back to the queue", left.len());
            if let Err(e) = self.ctx.queue.release(left).await {
                tracing::warn!(service = %slug, "cannot release items: {e:#}");
            }
        }
    }

    /// Waits up to the shutdown grace for the ASYNC items in flight; aborts the rest.
    async fn let_running_finish(&mut self) {
        let grace = tokio::time::sleep(self.ctx.config.shutdown_grace);
        tokio::pin!(grace);
        while !self.running.is_empty() {
            tokio::select! {
                _ = self.running.join_next() => {}
                () = &mut grace => {
                    self.running.abort_all();
                    while self.running.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }
}

/// A task that lives as long as one serving period, stopped by its own trigger (or when
/// dropped, if the serving future itself is dropped).
struct Helper {
    name: &'static str,
    quit: Trigger,
    task: JoinHandle<()>,
}

impl Helper {
    fn spawn<F>(name: &'static str, run: impl FnOnce(Shutdown) -> F) -> Helper
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (quit, shutdown) = Shutdown::new();
        Helper {
            name,
            quit,
            task: tokio::spawn(run(shutdown)),
        }
    }

    /// Tells the task to quit and waits until it has.
    async fn stop(&mut self, slug: &str) {
        self.quit.trigger();
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(service = %slug, "the {} ended abnormally: {e}", self.name);
        }
    }
}
