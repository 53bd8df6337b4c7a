//! What every runner of a daemon shares.

use std::sync::Arc;

use core_models::Db;

use super::skips::Skips;
use crate::config::WorkerConfig;
use crate::queue_client::QueueClient;
use crate::services::ServiceEnv;
use crate::stats::Counters;

/// Everything a runner needs from its daemon; cheap to clone.
#[derive(Clone)]
pub struct RunnerContext {
    /// Database access.
    pub(crate) queue: QueueClient,
    /// Daemon settings.
    pub(crate) config: Arc<WorkerConfig>,
    /// What each service's runner has done.
    pub counters: Counters,
    /// What services get from the daemon (the browser pages).
    pub(crate) env: ServiceEnv,
    /// Items an operator skipped (the control room), for the runner running them.
    pub skips: Skips,
}

impl RunnerContext {
    /// A context with fresh counters and service environment, acting as `config.owner`.
    pub fn new(db: Db, config: Arc<WorkerConfig>) -> RunnerContext {
        RunnerContext {
            queue: QueueClient::new(db, config.owner.clone()),
            config,
            counters: Counters::default(),
            env: ServiceEnv::default(),
            skips: Skips::default(),
        }
    }
}
