//! The original system's test services: `dummy`, `verbose` and `slow`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::queue_service::QueueService;
use super::settings::{u64_setting, Settings};
use crate::job::Job;

/// Logs each event in one line.
pub struct Dummy {
    name: Arc<str>,
}

impl Dummy {
    /// A `dummy` service named `name`.
    pub fn new(name: Arc<str>) -> Dummy {
        Dummy { name }
    }
}

#[async_trait]
impl QueueService for Dummy {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        tracing::info!(
            service = %self.name,
            "{} from {}",
            job.event().event_type,
            job.event().user_unique_id.as_deref().unwrap_or("-")
        );
        Ok(())
    }
}

/// Logs every field of each event.
pub struct Verbose {
    name: Arc<str>,
}

impl Verbose {
    /// A `verbose` service named `name`.
    pub fn new(name: Arc<str>) -> Verbose {
        Verbose { name }
    }
}

#[async_trait]
impl QueueService for Verbose {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let payload = serde_json::to_string(&job.payload())?;
        tracing::info!(service = %self.name, "{payload}");
        Ok(())
    }
}

/// Sleeps `delay_ms` (default 1000) per event, to simulate slow work.
pub struct Slow {
    name: Arc<str>,
    delay: Duration,
}

impl Slow {
    /// A `slow` service named `name`, reading `delay_ms`.
    pub fn new(name: Arc<str>, settings: &Settings) -> Slow {
        Slow {
            name,
            delay: Duration::from_millis(u64_setting(settings, "delay_ms", 1000)),
        }
    }
}

#[async_trait]
impl QueueService for Slow {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        tokio::time::sleep(self.delay).await;
        tracing::debug!(service = %self.name, item = job.item().id, "slow item done");
        Ok(())
    }
}
