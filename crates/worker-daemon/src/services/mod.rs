//! The services a worker runs: the [`QueueService`] trait every kind implements, and the
//! registry that builds one from its `services` row ([`build`]).
//!
//! A service sees [`Job`](crate::job::Job)s and the browser pages ([`ServiceEnv`]); it never
//! sees the queue: the runner claims its items and records how they ended.
//!
//! Modules: `queue_service` (the trait), `settings` (reading a row's settings), one module per
//! kind (`basic`: `dummy`, `verbose`, `slow`; `dino`, `overlays` and what they share in
//! `browser`; `exec`; `webhook`).

mod basic;
mod browser;
mod dino;
mod exec;
mod overlays;
mod queue_service;
mod settings;
mod webhook;

use std::sync::Arc;

use core_models::{Service, ServiceKind};

pub use queue_service::{QueueService, ServiceEnv};
pub use settings::BuildError;
pub(crate) use settings::RunLimits;

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
