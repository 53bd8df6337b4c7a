//! Follows the `services` table while the daemon runs: starts a runner for each active
//! service (of the ones asked for) that is not paused, stops the runner of a service
//! disabled, paused or removed (its items in flight finish first), and restarts one whose
//! kind or settings changed.

use std::collections::HashMap;
use std::time::Duration;

use core_models::Service;
use lifecycle::{Shutdown, Trigger};
use tokio::task::JoinHandle;

use crate::runner::{self, RunnerContext};

/// What makes a runner stale: a change to any of these restarts it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    name: String,
    class: String,
    settings: String,
}

impl Fingerprint {
    fn of(s: &Service) -> Fingerprint {
        Fingerprint {
            name: s.name.clone(),
            class: s.service_class.clone(),
            settings: s.settings.clone(),
        }
    }
}

/// A runner this daemon started.
struct Running {
    fingerprint: Fingerprint,
    /// Stops this runner alone (the daemon's shutdown stops them all).
    stop: Trigger,
    task: JoinHandle<()>,
}

/// The runners of one daemon, kept in step with the `services` table.
pub(crate) struct Supervisor {
    ctx: RunnerContext,
    /// Only these slugs; empty for every active service.
    only: Vec<String>,
    running: HashMap<i64, Running>,
    /// Whether the services asked for and not found were named once already.
    warned_missing: bool,
    /// How long a runner may take to stop before it is aborted.
    stop_grace: Duration,
}

impl Supervisor {
    /// A supervisor of the services `only` names (every active one when empty).
    pub(crate) fn new(ctx: RunnerContext, only: Vec<String>) -> Supervisor {
        // Room for a runner's graces (a SYNC item stopped mid-run, then the ASYNC drain) plus
        // its final database calls.
        let stop_grace = ctx.config.shutdown_grace * 2 + Duration::from_secs(5);
        Supervisor {
            ctx,
            only,
            running: HashMap::new(),
            warned_missing: false,
            stop_grace,
        }
    }

    /// Re-reads the services every `refresh` and follows them until `shutdown` fires, then
    /// stops every runner (each drains its in-flight items and releases what it holds).
    pub(crate) async fn follow_services(mut self, mut shutdown: Shutdown) {
        loop {
            match self.ctx.queue.services().await {
                Ok(all) => self.follow(&all, &shutdown).await,
                Err(e) => tracing::warn!("cannot read services (retrying): {e:#}"),
            }
            if shutdown.sleep(self.ctx.config.refresh).await {
                break;
            }
        }
        tracing::info!("shutting down {} service(s)", self.running.len());
        let all = self.running.drain().map(|(_, r)| r).collect();
        stop_all(all, self.stop_grace).await;
    }

    /// One reading of the table: stops the stale runners, then starts the missing ones.
    async fn follow(&mut self, all: &[Service], shutdown: &Shutdown) {
        self.warn_missing_once(all);
        let wanted: HashMap<i64, &Service> = all
            .iter()
            .filter(|s| {
                s.is_active && !s.is_paused && (self.only.is_empty() || self.only.contains(&s.slug))
            })
            .map(|s| (s.id, s))
            .collect();
        self.stop_stale(&wanted).await;
        for (id, service) in wanted {
            if !self.running.contains_key(&id) {
                self.start(service, shutdown);
            }
        }
    }

    /// Names, once, each service asked for that does not exist yet.
    fn warn_missing_once(&mut self, all: &[Service]) {
        if self.only.is_empty() || self.warned_missing {
            return;
        }
        for slug in &self.only {
            if !all.iter().any(|s| &s.slug == slug) {
                tracing::warn!("no service '{slug}' yet; it will start when it is added");
            }
        }
        self.warned_missing = true;
    }

    /// Stops the runners of services no longer wanted or changed since they started.
    async fn stop_stale(&mut self, wanted: &HashMap<i64, &Service>) {
        let stale: Vec<i64> = self
            .running
            .iter()
            .filter(|(id, r)| {
                wanted
                    .get(id)
                    .is_none_or(|s| Fingerprint::of(s) != r.fingerprint)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut stopping = Vec::new();
        for id in stale {
            if let Some(r) = self.running.remove(&id) {
                let why = if wanted.contains_key(&id) {
                    "changed; restarting"
                } else {
                    "disabled, paused or removed; stopping"
                };
                tracing::info!(service_id = id, "service {why}");
                stopping.push(r);
            }
        }
        stop_all(stopping, self.stop_grace).await;
    }

    /// Starts a runner for `service`, stopped with the daemon or alone.
    fn start(&mut self, service: &Service, shutdown: &Shutdown) {
        let (stop, runner_stop) = shutdown.child();
        let task = tokio::spawn(runner::own_service(
            self.ctx.clone(),
            service.clone(),
            runner_stop,
        ));
        self.running.insert(
            service.id,
            Running {
                fingerprint: Fingerprint::of(service),
                stop,
                task,
            },
        );
    }
}

/// Stops runners together: every one is told first (so none goes on claiming while another
/// drains), then all get until the same deadline, past which the stragglers are aborted.
async fn stop_all(runners: Vec<Running>, grace: Duration) {
    for r in &runners {
        r.stop.trigger();
    }
    let deadline = tokio::time::Instant::now() + grace;
    for r in runners {
        let abort = r.task.abort_handle();
        if tokio::time::timeout_at(deadline, r.task).await.is_err() {
            abort.abort();
        }
    }
}
