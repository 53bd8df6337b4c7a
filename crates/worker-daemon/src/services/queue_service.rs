//! What a service is: the [`QueueService`] trait every kind implements, and what the daemon
//! gives each one it builds ([`ServiceEnv`]).

use async_trait::async_trait;
use events::Outcome;

use crate::hub::Hub;
use crate::job::Job;

/// What the daemon shares with the services it builds.
#[derive(Clone, Default)]
pub struct ServiceEnv {
    /// The connected browser pages (`dinochrome`, `overlays`).
    pub(crate) hub: Hub,
}

/// A consumer of queue items. One instance serves one service; `process_event` may run
/// concurrently for ASYNC items, so implementations keep mutable state behind locks.
#[async_trait]
pub trait QueueService: Send + Sync {
    /// Called once before the first item; an error keeps the service from starting (it is
    /// retried later).
    async fn on_start(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Called once after the last item, on shutdown or when the service is stopped.
    async fn on_stop(&self) {}

    /// Called when an item is claimed, before `process_event`.
    async fn on_event_received(&self, _job: &Job) {}

    /// Does the work. `Err` marks the item failed with the error's text.
    async fn process_event(&self, job: &Job) -> anyhow::Result<()>;

    /// Called after `process_event` with how it ended.
    async fn on_event_processed(&self, _job: &Job, _outcome: &Outcome) {}
}
