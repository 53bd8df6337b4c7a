//! Follows the `services` table while the daemon runs: starts a runner for each active
//! service (of the ones asked for), stops the runner of a service disabled or removed, and
//! restarts one whose kind or settings changed.

use std::collections::HashMap;
use std::time::Duration;

use core_models::Service;
use tokio::sync::watch;
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

struct Running {
    fingerprint: Fingerprint,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Stops runners together: every one is told first (so none goes on claiming while another
/// drains), then all get until the same deadline, past which the stragglers are aborted.
async fn stop_all(runners: Vec<Running>, grace: Duration) {
    for r in &runners {
        let _ = r.stop.send(true);
    }
    let deadline = tokio::time::Instant::now() + grace;
    for r in runners {
        let abort = r.task.abort_handle();
        if tokio::time::timeout_at(deadline, r.task).await.is_err() {
            abort.abort();
        }
    }
}

/// Runs until `shutdown` turns true, then stops every runner (each drains its in-flight
/// items and releases what it holds).
pub async fn run(ctx: RunnerContext, only: Vec<String>, mut shutdown: watch::Receiver<bool>) {
    let mut running: HashMap<i64, Running> = HashMap::new();
    let mut warned_missing = false;
    // Room for a runner's graces (a SYNC item stopped mid-run, then the ASYNC drain) plus its
    // final database calls.
    let stop_grace = ctx.config.shutdown_grace * 2 + Duration::from_secs(5);
    loop {
        match ctx.queue.services().await {
            Ok(all) => {
                if !only.is_empty() && !warned_missing {
                    for slug in &only {
                        if !all.iter().any(|s| &s.slug == slug) {
                            tracing::warn!(
                                "no service '{slug}' yet; it will start when it is added"
                            );
                        }
                    }
                    warned_missing = true;
                }
                let wanted: HashMap<i64, &Service> = all
                    .iter()
                    .filter(|s| s.is_active && (only.is_empty() || only.contains(&s.slug)))
                    .map(|s| (s.id, s))
                    .collect();
                let stale: Vec<i64> = running
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
                    if let Some(r) = running.remove(&id) {
                        let why = if wanted.contains_key(&id) {
                            "changed; restarting"
                        } else {
                            "disabled or removed; stopping"
                        };
                        tracing::info!(service_id = id, "service {why}");
                        stopping.push(r);
                    }
                }
                stop_all(stopping, stop_grace).await;
                for (id, service) in wanted {
                    if running.contains_key(&id) {
                        continue;
                    }
                    let (stop, stop_rx) = watch::channel(false);
                    let task = tokio::spawn(runner::run(ctx.clone(), service.clone(), stop_rx));
                    running.insert(
                        id,
                        Running {
                            fingerprint: Fingerprint::of(service),
                            stop,
                            task,
                        },
                    );
                }
            }
            Err(e) => tracing::warn!("cannot read services (retrying): {e:#}"),
        }
        if tokio::time::timeout(ctx.config.refresh, shutdown.wait_for(|s| *s))
            .await
            .is_ok()
        {
            break;
        }
    }
    tracing::info!("shutting down {} service(s)", running.len());
    stop_all(running.into_values().collect(), stop_grace).await;
}
