//! `overlays` (ASYNC): each item is pushed to the connected `/overlays` pages as the public
//! job JSON; it completes when a page acks that it is on screen (a chat row at once, an alert
//! when its card appears; up to 3 alerts show at once). Alerts waiting in a page for a free
//! slot are still in flight, so the service's `max_concurrency` bounds how many wait there,
//! and a page never has to drop one it already acknowledged.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::browser::{NoPage, Pages, Sent};
use super::queue_service::{QueueService, ServiceEnv};
use super::settings::{BuildError, Settings};
use crate::hub::PageKind;
use crate::job::{Job, JobPayload};

/// A page acks an alert when it reaches the screen. With 3 alerts on screen for 5–7.5 s each,
/// the default 8 items in flight reach it within about 20 s; longer means the page is stuck.
/// Past it the item fails and the pages are told to drop it (never shown late).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Reads `no_page` (`wait` (default), `fail`, `complete`) and `ack_timeout_ms` (default
    /// 30 000).
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
            job: job.payload(),
        })?;
        if self.pages.send(job.item().id, message).await? == Sent::Skipped {
            tracing::debug!(
                item = job.item().id,
                "no overlay page connected; completed unseen"
            );
        }
        Ok(())
    }
}
