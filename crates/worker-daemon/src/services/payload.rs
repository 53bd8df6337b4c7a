//! The JSON a job is handed over as, to `exec` programs and `webhook` endpoints.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Job;

/// One job as JSON. The shape is a public contract (README, "Event JSON").
#[derive(Debug, Serialize)]
pub struct JobPayload<'a> {
    /// Queue item id (answers refer to it).
    pub id: i64,
    /// The service's slug.
    pub service: &'a str,
    /// 1 on the first try, higher when the item is retried.
    pub attempt: i32,
    /// The item's priority (1–10).
    pub priority: i32,
    /// The event.
    pub event: EventPayload<'a>,
}

/// The event inside a [`JobPayload`].
#[derive(Debug, Serialize)]
pub struct EventPayload<'a> {
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
pub struct UserPayload<'a> {
    /// Numeric id.
    pub id: Option<&'a str>,
    /// @handle.
    pub unique_id: Option<&'a str>,
    /// Display name.
    pub nickname: Option<&'a str>,
}

/// A gift combo.
#[derive(Debug, Serialize)]
pub struct StreakPayload<'a> {
    /// Shared by every event of the combo.
    pub id: &'a str,
    /// `start`, `continue` or `end`.
    pub status: &'static str,
}

/// The payload of a job.
pub fn job_payload(job: &Job) -> JobPayload<'_> {
    let e = &job.event;
    JobPayload {
        id: job.item.id,
        service: &job.service_slug,
        attempt: job.item.attempts.max(1),
        priority: job.item.priority.get(),
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
