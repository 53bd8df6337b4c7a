//! `overlays` (ASYNC): each item is pushed to the connected `/overlays` pages as the public
//! job JSON; it completes when a page acks that it is on screen (a chat row at once, an alert
//! when its card appears; up to 3 alerts show at once). Alerts waiting in a page for a free
//! slot are still in flight, so the service's `max_concurrency` bounds how many wait there,
//! and a page never has to drop one it already acknowledged.
//!
//! A CommentDeletedEvent (when the service subscribes to it) goes to the pages as a `delete`
//! message naming the deleted comments, which leave the chat feed; its item completes when a
//! page acks that they are gone. msg_ids travel as strings: JavaScript's numbers cannot hold
//! them exactly.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::browser::{NoPage, Pages, Sent};
use super::queue_service::{QueueService, ServiceEnv};
use super::settings::{BuildError, Settings};
use core_models::EventType;
use serde_json::Value;

use crate::hub::PageKind;
use crate::job::{Job, JobPayload};

/// A page acks an alert when it reaches the screen. With 3 alerts on screen for 5–7.5 s each,
/// the default 8 items in flight reach it within about 20 s; longer means the page is stuck.
/// Past it the item fails and the pages are told to drop it (never shown late).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// `{"type":"event", "msg_id": "…", …job JSON…}`: what an overlay page receives; `msg_id` is
/// the event's msg_id as a string, what a `delete` names it by.
#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    msg_id: Option<String>,
    #[serde(flatten)]
    job: JobPayload<'a>,
}

/// `{"type":"delete", "id": item, "msg_ids": ["…"], "user_ids": ["…"]}`: comments to take off
/// the chat feed (by msg_id, and every comment of these users).
#[derive(Serialize)]
struct DeleteMessage {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i64,
    msg_ids: Vec<String>,
    user_ids: Vec<String>,
}

impl DeleteMessage {
    /// The deletion a CommentDeletedEvent's data names (`deleted_msg_ids` numbers,
    /// `deleted_user_ids` strings).
    fn of(item_id: i64, data: &Value) -> DeleteMessage {
        let list = |key: &str| data.get(key).and_then(Value::as_array).cloned();
        DeleteMessage {
            kind: "delete",
            id: item_id,
            msg_ids: list("deleted_msg_ids")
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_i64().map(|id| id.to_string()))
                .collect(),
            user_ids: list("deleted_user_ids")
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        }
    }
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
        let event = job.event();
        let message = if event.event_type == EventType::CommentDeleted {
            serde_json::to_string(&DeleteMessage::of(job.item().id, &event.data()))?
        } else {
            serde_json::to_string(&EventMessage {
                kind: "event",
                msg_id: event.msg_id.map(|id| id.to_string()),
                job: job.payload(),
            })?
        };
        if self.pages.send(job.item().id, message).await? == Sent::Skipped {
            tracing::debug!(
                item = job.item().id,
                "no overlay page connected; completed unseen"
            );
        }
        Ok(())
    }
}
