//! One service's lifecycle in this daemon: stand by until it holds the service's lease, start
//! the service, claim and process its queue, and stop cleanly.
//!
//! ```text
//! standby ──lease acquired──▶ starting ──on_start ok──▶ serving ──stop / lease lost──▶ draining ──▶ standby | stopped
//!    ▲                           │ on_start failed (retried after a pause)
//!    └───────────────────────────┘
//! ```
//!
//! [`own_service`] walks these states (`State`), one method each; draining is the end of
//! serving. Modules: `context` (what the runners of a daemon share), `serving` (the claim
//! loop and its drain), `pacing` (how often to poll, how much to claim), `item` (one item:
//! timeout, panic capture, counters), `outcomes` (finished items waiting to be recorded, in
//! batches), `leases` (the items held and the heartbeat that renews them with the service's
//! lease).

mod context;
mod item;
mod leases;
mod outcomes;
mod pacing;
mod serving;
mod skips;

use std::sync::Arc;
use std::time::Duration;

use core_models::Service;
use lifecycle::{Backoff, Shutdown};

pub use context::RunnerContext;
pub use skips::Skips;

use crate::services::{self, BuildError, QueueService, ServiceEnv};
use serving::{Ended, Serving};

/// The longest pause before trying again to build or start a service that failed to (unless
/// `refresh` is longer).
const START_RETRY_MAX: Duration = Duration::from_secs(60);

/// Builds the running service from its row.
pub type Factory = fn(&Service, &ServiceEnv) -> Result<Arc<dyn QueueService>, BuildError>;

/// Owns one service until `stop` fires: stands by while another daemon holds it, serves it
/// while this one does.
pub async fn own_service(ctx: RunnerContext, service: Service, stop: Shutdown) {
    own_service_with(ctx, service, services::build, stop).await
}

/// [`own_service`] with the service built by `factory` (tests plug in their own services
/// here).
pub async fn own_service_with(
    ctx: RunnerContext,
    service: Service,
    factory: Factory,
    stop: Shutdown,
) {
    let slug = service.slug.clone();
    let refresh = ctx.config.refresh;
    let mut runner = Runner {
        ctx,
        service: Arc::new(service),
        factory,
        stop,
        start_retry: Backoff::new(refresh, START_RETRY_MAX.max(refresh)),
    };
    let mut state = State::Standby;
    loop {
        state = match state {
            State::Standby => runner.stand_by().await,
            State::Starting(built) => runner.start(built).await,
            State::Serving(built) => runner.serve(built).await,
            State::Stopped => break,
        };
    }
    tracing::info!(service = %slug, "service {slug} stopped");
}

/// Where a runner is (the diagram above).
enum State {
    /// Not serving: builds the service and tries for its lease.
    Standby,
    /// Holds the lease; the service starts.
    Starting(Arc<dyn QueueService>),
    /// Claims and processes the queue, then drains.
    Serving(Arc<dyn QueueService>),
    /// Told to stop.
    Stopped,
}

/// One service's runner.
struct Runner {
    ctx: RunnerContext,
    service: Arc<Service>,
    factory: Factory,
    stop: Shutdown,
    /// The pause after a service that cannot be built or started: from `refresh`, doubling
    /// up to a minute; back to `refresh` once it starts.
    start_retry: Backoff,
}

impl Runner {
    /// Builds the service and tries for its lease: starting once held; standby again after
    /// a pause otherwise.
    async fn stand_by(&mut self) -> State {
        if self.stop.is_triggered() {
            return State::Stopped;
        }
        let slug = &self.service.slug;
        let built = match (self.factory)(&self.service, &self.ctx.env) {
            Ok(built) => built,
            Err(e) => {
                let pause = self.start_retry.next_delay();
                tracing::error!(service = %slug, "cannot run service {slug}: {e}; retrying in {:.1}s", pause.as_secs_f64());
                self.stop.sleep(pause).await;
                return State::Standby;
            }
        };
        let lease = self.ctx.config.service_lease;
        match self.ctx.queue.acquire_service(self.service.id, lease).await {
            Ok(true) => return State::Starting(built),
            Ok(false) => tracing::debug!(service = %slug, "standing by: another daemon owns it"),
            Err(e) => tracing::warn!(service = %slug, "cannot take the service lease: {e:#}"),
        }
        self.stop.sleep(self.ctx.config.refresh).await;
        State::Standby
    }

    /// Runs the service's `on_start`: serving once it succeeds; standby after a growing
    /// pause (the lease given up meanwhile) if it fails.
    async fn start(&mut self, built: Arc<dyn QueueService>) -> State {
        let service = &self.service;
        let slug = &service.slug;
        if let Err(e) = built.on_start().await {
            let pause = self.start_retry.next_delay();
            tracing::error!(service = %slug, "service {slug} failed to start: {e:#}; retrying in {:.1}s", pause.as_secs_f64());
            let _ = self.ctx.queue.release_service(service.id).await;
            self.stop.sleep(pause).await;
            return State::Standby;
        }
        self.start_retry.reset();
        tracing::info!(service = %slug, "serving {} ({})", service.name, service.service_class);
        State::Serving(built)
    }

    /// Serves until stopped or the lease is lost, drains, stops the service and gives the
    /// lease up: stopped, or standby after a lost lease.
    async fn serve(&mut self, built: Arc<dyn QueueService>) -> State {
        let ended = Serving::begin(&self.ctx, &self.service, built.clone(), &self.stop)
            .serve()
            .await;
        built.on_stop().await;
        let slug = &self.service.slug;
        if let Err(e) = self.ctx.queue.release_service(self.service.id).await {
            tracing::warn!(service = %slug, "cannot release the service lease: {e:#}");
        }
        match ended {
            Ended::Stopped => State::Stopped,
            Ended::LeaseLost => {
                tracing::warn!(service = %slug, "lost the service lease; standing by");
                State::Standby
            }
        }
    }
}
