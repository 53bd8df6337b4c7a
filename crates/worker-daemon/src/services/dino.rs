//! `dinochrome` (SYNC): each item becomes one action of the dino on the `/dino` page, and
//! completes only when a page reports the action finished. No page, a page that does not
//! answer in time, or one that disconnects: the item fails (never a silent success).

use std::time::Duration;

use async_trait::async_trait;
use core_models::EventType;
use serde::Serialize;

use super::browser::{NoPage, Pages};
use super::queue_service::{QueueService, ServiceEnv};
use super::settings::{BuildError, Settings};
use crate::hub::PageKind;
use crate::job::Job;

/// Longest action is ~1.5 s; the rest is slack for a busy machine.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the dino does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A normal jump.
    Jump,
    /// A high jump with a burst of speed and confetti.
    Boost,
    /// Duck under whatever comes.
    Duck,
    /// A small sparkle above the dino; the run goes on.
    Sparkle,
}

impl Action {
    /// The action of a job: its rule's `--action` when it is one of the dino's (`jump`,
    /// `duck`, `boost`, `sparkle`), else the mapping by event type.
    pub fn for_job(job: &Job) -> Action {
        match job.action().map(str::to_ascii_lowercase).as_deref() {
            Some("jump") => Action::Jump,
            Some("duck") => Action::Duck,
            Some("boost") => Action::Boost,
            Some("sparkle") => Action::Sparkle,
            _ => Action::for_event(job.event().event_type),
        }
    }

    /// The mapping of event types to actions (README, "Browser sources").
    pub fn for_event(t: EventType) -> Action {
        match t {
            EventType::Gift | EventType::Subscribe => Action::Boost,
            EventType::Comment | EventType::Follow => Action::Jump,
            EventType::Share => Action::Duck,
            _ => Action::Sparkle,
        }
    }
}

/// `{"type":"action","id":…,"action":"jump",…}`: what a dino page receives.
#[derive(Serialize)]
struct ActionMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The queue item id, echoed in the page's ack.
    id: i64,
    action: Action,
    /// `GiftEvent`, `CommentEvent`, …
    event: &'a str,
    /// Who caused it (shown as text).
    user: Option<&'a str>,
    /// The gift's name or the comment (shown as text).
    detail: Option<String>,
}

/// The dino service.
pub struct Dino {
    pages: Pages,
}

impl Dino {
    /// Reads `no_page` (`wait` (default) or `fail`) and `ack_timeout_ms`.
    pub fn new(slug: &str, settings: &Settings, env: &ServiceEnv) -> Result<Dino, BuildError> {
        Ok(Dino {
            pages: Pages::new(
                env.hub.clone(),
                PageKind::Dino,
                slug,
                settings,
                &[NoPage::Wait, NoPage::Fail],
                ACK_TIMEOUT,
            )?,
        })
    }
}

fn detail(job: &Job) -> Option<String> {
    let data = job.event().data();
    match job.event().event_type {
        EventType::Gift => {
            let name = data.pointer("/gift/name")?.as_str()?;
            let count = data
                .get("repeat_count")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(1);
            Some(if count > 1 {
                format!("{name} ×{count}")
            } else {
                name.to_owned()
            })
        }
        EventType::Comment => data.get("comment")?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[async_trait]
impl QueueService for Dino {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let event = job.event();
        let message = serde_json::to_string(&ActionMessage {
            kind: "action",
            id: job.item().id,
            action: Action::for_job(job),
            event: event.event_type.as_str(),
            user: event.user_nickname.as_deref(),
            detail: detail(job),
        })?;
        self.pages.send(job.item().id, message).await?;
        Ok(())
    }
}
