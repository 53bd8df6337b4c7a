//! Row types of every table, with the string columns that have a fixed vocabulary typed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::event::{EventType, StreakStatus, UnknownName};
use crate::schema::*;
use crate::status::{QueueReason, QueueStatus, ServiceKind, SessionStatus};
use crate::validate::Priority;

/// A capture run (`live_sessions`). Times are UTC.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = live_sessions)]
pub struct LiveSession {
    /// Row id.
    pub id: i64,
    /// Optional label given with `--session-name`.
    pub name: Option<String>,
    /// When capture started.
    pub started_at: NaiveDateTime,
    /// When capture ended, if it did.
    pub ended_at: Option<NaiveDateTime>,
    /// Lifecycle state.
    pub status: SessionStatus,
    /// TikTok room id of the LIVE.
    pub room_id: String,
    /// The streamer's @handle.
    pub streamer_unique_id: String,
    /// Events stored in this session so far.
    pub total_events: i64,
    /// Free text (e.g. why a session was aborted).
    pub notes: Option<String>,
    /// Row creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Holds test events (`ctl event send`, the control room's test form), not a LIVE:
    /// totals across sessions leave it out unless asked for.
    pub is_test: bool,
}

/// A stored LIVE event (`live_events`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = live_events)]
pub struct LiveEvent {
    /// Row id.
    pub id: i64,
    /// The capture session it arrived in.
    pub session_id: i64,
    /// What happened.
    pub event_type: EventType,
    /// When it happened (UTC).
    pub timestamp: NaiveDateTime,
    /// TikTok room id.
    pub room_id: String,
    /// The streamer's @handle.
    pub streamer_unique_id: String,
    /// Acting user's numeric id.
    pub user_id: Option<String>,
    /// Acting user's @handle.
    pub user_unique_id: Option<String>,
    /// Acting user's display name.
    pub user_nickname: Option<String>,
    /// Part of a gift combo.
    pub is_streaking: bool,
    /// Combo id shared by its events.
    pub streak_id: Option<String>,
    /// Position in the combo.
    pub streak_status: Option<StreakStatus>,
    /// Type-specific payload, JSON text (the event_data contract).
    pub event_data: String,
    /// TikTok's message id (unique per room).
    pub msg_id: Option<i64>,
    /// Row creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl LiveEvent {
    /// `event_data` parsed; `Null` if the stored text is not JSON.
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_str(&self.event_data).unwrap_or(serde_json::Value::Null)
    }
}

/// A consumer of events (`services`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = services)]
pub struct Service {
    /// Row id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique handle used on the command line.
    pub slug: String,
    /// The registered kind that runs it. Kept as text so a row with an unknown kind can still
    /// be listed and fixed; [`Service::kind`] checks it.
    pub service_class: String,
    /// Free text.
    pub description: String,
    /// Whether workers run it and dispatch feeds it.
    pub is_active: bool,
    /// Pending items above which the overflow policy applies.
    pub max_queue_size: i32,
    /// JSON object of kind-specific parameters.
    pub settings: String,
    /// Row creation time.
    pub created_at: NaiveDateTime,
    /// Last change (configuration changes are detected on it).
    pub updated_at: NaiveDateTime,
    /// Paused: it keeps receiving events (the overflow policy applies) but no worker claims
    /// them until it is resumed. `paused` in JSON.
    #[serde(rename = "paused")]
    pub is_paused: bool,
}

impl Service {
    /// The service's kind, or an error naming the unknown class.
    pub fn kind(&self) -> Result<ServiceKind, UnknownName> {
        self.service_class.parse()
    }

    /// The settings as a JSON object (empty if the stored text is not an object).
    pub fn settings_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.settings) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}

/// A trigger rule of a service (`service_event_configs`): which events of one type it takes
/// (its conditions), how their items are queued, how often it may fire and what it asks the
/// service to do. The seed's event configs are the rules without conditions named after their
/// event type.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = service_event_configs)]
pub struct Rule {
    /// Row id; also the rule's creation order (the tie-break between equal priorities).
    pub id: i64,
    /// The service.
    pub service_id: i64,
    /// Unique within the service.
    pub name: String,
    /// The event type it matches.
    pub event_type: EventType,
    /// Whether it matches at all.
    pub is_enabled: bool,
    /// 1 (lowest) to 10 (highest).
    pub priority: Priority,
    /// Processed in parallel (ASYNC) rather than one at a time (SYNC).
    pub is_async: bool,
    /// May be dropped when the queue is full.
    pub is_discardable: bool,
    /// What must hold of an event (see [`crate::rules::Conditions`]); `None`: nothing.
    #[serde(serialize_with = "crate::rules::serialize_conditions")]
    pub conditions: Option<String>,
    /// Fires at most once per this many milliseconds.
    pub cooldown_ms: Option<i64>,
    /// Fires at most once per this many milliseconds for one viewer.
    pub user_cooldown_ms: Option<i64>,
    /// Which steps of a gift combo it takes.
    pub streak_policy: crate::rules::StreakPolicy,
    /// Handed to the service with each item.
    pub action: Option<String>,
    /// Row creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The seed's name for a rule: every event config is one (named after its event type).
pub type ServiceEventConfig = Rule;

/// One delivery of one event to one service (`event_queue`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = event_queue)]
pub struct QueueItem {
    /// Row id.
    pub id: i64,
    /// The service it is for.
    pub service_id: i64,
    /// The event delivered.
    pub live_event_id: i64,
    /// The capture session of the event.
    pub session_id: i64,
    /// Lifecycle state.
    pub status: QueueStatus,
    /// Why it ended without being processed (`overflow`, …); `None` for pending,
    /// processing and completed items, and for failures the service itself reported.
    pub reason: Option<QueueReason>,
    /// The name of the rule that enqueued it (`None` for rows older than rules). `rule` in
    /// JSON.
    #[serde(rename = "rule")]
    pub rule_name: Option<String>,
    /// Copied from the rule at enqueue time.
    pub priority: Priority,
    /// Copied from the config at enqueue time.
    pub is_async: bool,
    /// Copied from the config at enqueue time.
    pub is_discardable: bool,
    /// Times it was claimed.
    pub attempts: i32,
    /// Worker holding it while `processing`.
    pub locked_by: Option<String>,
    /// End of that worker's lease.
    pub locked_until: Option<NaiveDateTime>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it reached a final state.
    pub processed_at: Option<NaiveDateTime>,
    /// Enqueue time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A key-value setting (`app_config`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = app_config)]
pub struct ConfigEntry {
    /// Row id.
    pub id: i64,
    /// The key.
    pub meta_key: String,
    /// The value.
    pub meta_value: String,
    /// Row creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The current UTC time with microsecond precision, the resolution both backends store.
pub fn now() -> NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}
