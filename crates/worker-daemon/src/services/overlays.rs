//! `overlays` (ASYNC): each item is pushed to the connected `/overlays` pages as the public
//! job JSON; it completes when a page acks that it has the alert. Several items are in flight
//! (and on screen) at once, up to the service's `max_concurrency`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::browser::{NoPage, Pages, Sent};
use super::{job_payload, BuildError, Job, JobPayload, QueueService, ServiceEnv, Settings};
use crate::http::PageKind;

/// A page acks on receipt, so a long wait means it is stuck.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// `{"type":"event", …job JSON…}`: what an overlay page receives.
#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    job: JobPayload<'a>,
}

/// The overlays service.
pub struct Overlays {
    pages: Pages,
}

impl Overlays {
    /// Reads `no_page` (`wait` (default), `fail`, `complete`) and `ack_timeout_ms`.
    pub fn new(slug: &str, settings: &Settings, env: &ServiceEnv) -> Result<Overlays, BuildError> {
        Ok(Overlays {
            pages: Pages::new(
                env.hub.clone(),
                PageKind::Overlays,
                slug,
                settings,
                &[NoPage::Wait, NoPage::Fail, NoPage::Complete],
                ACK_TIMEOUT,
            )?,
        })
    }
}

#[async_trait]
impl QueueService for Overlays {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let message = serde_json::to_string(&EventMessage {
            kind: "event",
            job: job_payload(job),
        })?;
        if self.pages.send(job.item.id, message).await? == Sent::Skipped {
            tracing::debug!(
                item = job.item.id,
                "no overlay page connected; completed unseen"
            );
        }
        Ok(())
    }
}
