//! The services a worker runs: the [`QueueService`] trait, the per-item [`Job`], and the
//! registry that builds a service from its `services` row.

mod basic;
mod browser;
pub mod dino;
mod exec;
mod overlays;
mod payload;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use core_models::{LiveEvent, QueueItem, Service, ServiceKind};

pub use browser::NoPage;
pub use payload::{job_payload, JobPayload};

use crate::http::Hub;

/// A service's settings object.
pub type Settings = serde_json::Map<String, serde_json::Value>;

/// What the daemon shares with the services it builds.
#[derive(Clone, Default)]
pub struct ServiceEnv {
    /// The connected browser pages (`dinochrome`, `overlays`).
    pub hub: Hub,
}

/// One queue item handed to a service, with the event it carries.
#[derive(Debug, Clone)]
pub struct Job {
    /// The queue row (priority, attempts, …).
    pub item: QueueItem,
    /// The event.
    pub event: LiveEvent,
    /// The service's slug.
    pub service_slug: Arc<str>,
    /// The service's display name (`--verbose` lines, like the original's).
    pub service_name: Arc<str>,
}

/// How processing one job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `process_event` returned `Ok`.
    Completed,
    /// It returned an error, panicked or timed out; the text says which.
    Failed(String),
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

/// Limits every service has, read from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// ASYNC items in flight at once (`max_concurrency`, default 8).
    pub max_concurrency: usize,
    /// Longest a single `process_event` may take (`timeout_ms`, default 30 000).
    pub timeout: Duration,
    /// Claims before an item whose worker keeps dying is failed (`max_attempts`, default 5).
    pub max_attempts: i32,
}

impl RunLimits {
    /// Reads the limits from a service's settings, falling back to the defaults.
    pub fn from_settings(settings: &serde_json::Map<String, serde_json::Value>) -> RunLimits {
        let int = |key: &str, default: u64, min: u64| {
            settings
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .map_or(default, |v| v.max(min))
        };
        RunLimits {
            max_concurrency: int("max_concurrency", 8, 1) as usize,
            timeout: Duration::from_millis(int("timeout_ms", 30_000, 1)),
            max_attempts: int("max_attempts", 5, 1).min(i32::MAX as u64) as i32,
        }
    }
}

/// A service whose row cannot be turned into a running service.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `service_class` names no registered kind.
    #[error("{0}")]
    UnknownKind(#[from] core_models::UnknownName),
    /// A setting is missing or has the wrong type.
    #[error("setting '{key}' {problem}")]
    Setting {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Builds the service a row describes.
pub fn build(service: &Service, env: &ServiceEnv) -> Result<Arc<dyn QueueService>, BuildError> {
    let settings = service.settings_map();
    let name: Arc<str> = Arc::from(service.name.as_str());
    Ok(match service.kind()? {
        ServiceKind::Dummy => Arc::new(basic::Dummy::new(name)),
        ServiceKind::Verbose => Arc::new(basic::Verbose::new(name)),
        ServiceKind::Slow => Arc::new(basic::Slow::new(name, &settings)),
        ServiceKind::DinoChrome => Arc::new(dino::Dino::new(&service.slug, &settings, env)?),
        ServiceKind::Overlays => Arc::new(overlays::Overlays::new(&service.slug, &settings, env)?),
        ServiceKind::Exec => Arc::new(exec::Exec::new(&service.slug, &settings)?),
        ServiceKind::Webhook => Arc::new(webhook::Webhook::new(&settings)?),
    })
}

/// A string setting, required.
fn required_str(
    settings: &serde_json::Map<String, serde_json::Value>,
    key: &'static str,
) -> Result<String, BuildError> {
    match settings.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(serde_json::Value::String(_)) | None => Err(BuildError::Setting {
            key,
            problem: format!("is required: `ctl service set SLUG --setting {key}=…`"),
        }),
        Some(other) => Err(BuildError::Setting {
            key,
            problem: format!("must be a string, not {other}"),
        }),
    }
}

/// A whole-number setting with a default.
fn u64_setting(
    settings: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    default: u64,
) -> u64 {
    settings
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(default)
}
