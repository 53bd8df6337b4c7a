//! The unit of work a service receives: one claimed queue item, with its event and the
//! service it was claimed for ([`Job`]), and the JSON it is handed over as to `exec`
//! programs, `webhook` endpoints and overlay pages ([`JobPayload`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use core_models::{LiveEvent, QueueItem, Service};
use dispatcher::ClaimedItem;
use serde::Serialize;

/// One queue item handed to a service: what the engine claimed (the item and its event) and
/// the service it was claimed for. Read-only: a service answers through its result, never by
/// changing the job.
#[derive(Debug, Clone)]
pub struct Job {
    claimed: ClaimedItem,
    service: Arc<Service>,
}

impl Job {
    /// The job of an item claimed for `service`.
    pub(crate) fn new(claimed: ClaimedItem, service: Arc<Service>) -> Job {
        Job { claimed, service }
    }

    /// The queue row (id, priority, attempts, …).
    pub fn item(&self) -> &QueueItem {
        &self.claimed.item
    }

    /// The event to process.
    pub fn event(&self) -> &LiveEvent {
        &self.claimed.event
    }

    /// The action of the item's rule (`--action`), if it has one.
    pub fn action(&self) -> Option<&str> {
        self.claimed.action.as_deref()
    }

    /// The service the item was claimed for (its slug, its display name, …).
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The job as JSON for programs, endpoints and pages (the public contract).
    pub(crate) fn payload(&self) -> JobPayload<'_> {
        JobPayload::of(self)
    }
}

/// One job as JSON. The shape is a public contract (README, "Event JSON").
#[derive(Debug, Serialize)]
pub(crate) struct JobPayload<'a> {
    /// Queue item id (answers refer to it).
    pub id: i64,
    /// The service's slug.
    pub service: &'a str,
    /// 1 on the first try, higher when the item is retried.
    pub attempt: i32,
    /// The item's priority (1–10).
    pub priority: i32,
    /// The rule it went under (`null` for items older than rules).
    pub rule: Option<RulePayload<'a>>,
    /// The event.
    pub event: EventPayload<'a>,
}

/// The rule inside a [`JobPayload`]: its name and the action it asks for.
#[derive(Debug, Serialize)]
pub(crate) struct RulePayload<'a> {
    /// The rule's name (the event type's name for the seed's configs).
    pub name: &'a str,
    /// `--action` (`jump`, `alert`, …), `null` when none: the service's own mapping.
    pub action: Option<&'a str>,
}

/// The event inside a [`JobPayload`].
#[derive(Debug, Serialize)]
pub(crate) struct EventPayload<'a> {
    /// Stored event id.
    pub id: i64,
    /// `GiftEvent`, `CommentEvent`, …
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// When it happened (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// Capture session id.
    pub session_id: i64,
    /// TikTok room id.
    pub room_id: &'a str,
    /// The streamer's @handle.
    pub streamer: &'a str,
    /// The acting user.
    pub user: UserPayload<'a>,
    /// Gift combo, for streakable gifts.
    pub streak: Option<StreakPayload<'a>>,
    /// TikTok's message id.
    pub msg_id: Option<i64>,
    /// The type-specific event_data (README, "event_data").
    pub data: serde_json::Value,
}

/// The acting user.
#[derive(Debug, Serialize)]
pub(crate) struct UserPayload<'a> {
    /// Numeric id.
    pub id: Option<&'a str>,
    /// @handle.
    pub unique_id: Option<&'a str>,
    /// Display name.
    pub nickname: Option<&'a str>,
}

/// A gift combo.
#[derive(Debug, Serialize)]
pub(crate) struct StreakPayload<'a> {
    /// Shared by every event of the combo.
    pub id: &'a str,
    /// `start`, `continue` or `end`.
    pub status: &'static str,
}

impl<'a> JobPayload<'a> {
    /// The payload of a job.
    fn of(job: &'a Job) -> JobPayload<'a> {
        let e = job.event();
        let item = job.item();
        JobPayload {
            id: item.id,
            service: &job.service().slug,
            attempt: item.attempts.max(1),
            priority: item.priority.get(),
            rule: item.rule_name.as_deref().map(|name| RulePayload {
                name,
                action: job.action(),
            }),
            event: EventPayload {
                id: e.id,
                event_type: e.event_type.as_str(),
                timestamp: e.timestamp.and_utc(),
                session_id: e.session_id,
                room_id: &e.room_id,
                streamer: &e.streamer_unique_id,
                user: UserPayload {
                    id: e.user_id.as_deref(),
                    unique_id: e.user_unique_id.as_deref(),
                    nickname: e.user_nickname.as_deref(),
                },
                streak: match (&e.streak_id, e.streak_status) {
                    (Some(id), Some(status)) => Some(StreakPayload {
                        id,
                        status: status.as_str(),
                    }),
                    _ => None,
                },
                msg_id: e.msg_id,
                data: e.data(),
            },
        }
    }
}
