//! `/api/services…`: the services and their rules, through the checks `ctl` uses
//! ([`crate::admin`], `core_models::rules`), so both refuse the same input with the same
//! sentence and write nothing then.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::rules::{self, Basics, NewRule, RuleChanges};
use core_models::services::{self, NewService, ServiceChanges};
use core_models::{
    Conditions, Cooldown, EventRoute, EventType, MaxQueueSize, ModelError, Priority, ServiceKind,
    Setting, Slug, StreakPolicy, Streamer,
};
use dispatcher::{Engine, QueueStats};
use serde::Deserialize;

use crate::admin;
use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;

/// `GET /api/services`.
pub(crate) async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let listed = app
        .db
        .run(|c| Ok::<_, ApiError>(services::list_with_streamers(c)?))
        .await?;
    Ok(Json(listed).into_response())
}

/// `GET /api/services/{slug}`: the service, its rules and its queue's counts (as
/// `ctl service show --json`).
pub(crate) async fn show(
    State(app): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let shown = app.db.run(move |c| shown(c, &slug)).await?;
    Ok(Json(shown).into_response())
}

fn shown(c: &mut core_models::DbConn, slug: &str) -> Result<serde_json::Value, ApiError> {
    let detail = services::detail(c, slug)?;
    let queue: QueueStats = Engine::new(c)
        .stats(Some(detail.service.id))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut value = serde_json::to_value(&detail).unwrap_or_default();
    value["queue"] = serde_json::to_value(queue).unwrap_or_default();
    Ok(value)
}

/// The body of `POST /api/services`: the fields of `ctl service add`, named as in its JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    name: String,
    slug: String,
    #[serde(default = "default_class")]
    service_class: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    is_active: bool,
    #[serde(default = "default_max_queue")]
    max_queue_size: i64,
    #[serde(default)]
    settings: serde_json::Map<String, serde_json::Value>,
    /// `TYPE:PRIORITY:sync|async:keep|discard`, as `--event`.
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    streamers: Vec<String>,
}

fn default_class() -> String {
    "dummy".into()
}
fn yes() -> bool {
    true
}
fn default_max_queue() -> i64 {
    100
}

/// `POST /api/services` → 201 with the service as `GET` shows it.
pub(crate) async fn add(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: ServiceBody = json_body(&body)?;
    let new = NewService {
        name: b.name,
        slug: Slug::from_str(&b.slug)?,
        kind: parse_kind(&b.service_class)?,
        description: b.description,
        is_active: b.is_active,
        max_queue_size: MaxQueueSize::new(b.max_queue_size)?,
        settings: settings(b.settings),
        routes: b
            .events
            .iter()
            .map(|e| EventRoute::from_str(e))
            .collect::<Result<_, _>>()?,
        streamers: streamers(&b.streamers)?,
    };
    let shown = app
        .db
        .run(move |c| {
            admin::add_service(c, &new)?;
            shown(c, new.slug.as_str())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// The body of `PATCH /api/services/{slug}`: what `ctl service set` changes, plus
/// `is_active` (`ctl service enable|disable`). Absent fields stay; a setting set to `null`
/// is removed; `streamers: []` serves every streamer again.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServicePatch {
    name: Option<String>,
    service_class: Option<String>,
    max_queue_size: Option<i64>,
    description: Option<String>,
    #[serde(default)]
    settings: serde_json::Map<String, serde_json::Value>,
    streamers: Option<Vec<String>>,
    is_active: Option<bool>,
}

/// `PATCH /api/services/{slug}`.
pub(crate) async fn patch(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p: ServicePatch = json_body(&body)?;
    let changes = ServiceChanges {
        name: p.name,
        kind: p.service_class.as_deref().map(parse_kind).transpose()?,
        max_queue_size: p.max_queue_size.map(MaxQueueSize::new).transpose()?,
        description: p.description,
        settings: settings(p.settings),
        streamers: p.streamers.as_deref().map(streamers).transpose()?,
    };
    let active = p.is_active;
    if changes.is_empty() && active.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: give at least one of name, service_class, max_queue_size, description, settings, streamers, is_active",
        ));
    }
    let shown = app
        .db
        .run(move |c| {
            // Every check runs before the first write; `is_active` alone cannot be refused.
            if !changes.is_empty() {
                admin::update_service(c, &slug, &changes)?;
            }
            if let Some(active) = active {
                services::set_active(c, &slug, active)?;
            }
            shown(c, &slug)
        })
        .await?;
    Ok(Json(shown).into_response())
}

/// `DELETE /api/services/{slug}`: the service with its rules and queue.
pub(crate) async fn remove(
    State(app): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let removed = app
        .db
        .run(move |c| Ok::<_, ApiError>(Engine::new(c).remove_service(&slug)?))
        .await?;
    Ok(Json(serde_json::json!({
        "removed": removed.service.slug,
        "event_configs": removed.event_configs,
        "queue_items": removed.queue_items,
    }))
    .into_response())
}

/// `POST /api/services/{slug}/pause`.
pub(crate) async fn pause(
    state: State<AppState>,
    slug: Path<String>,
) -> Result<Response, ApiError> {
    set_paused(state, slug, true).await
}

/// `POST /api/services/{slug}/resume`.
pub(crate) async fn resume(
    state: State<AppState>,
    slug: Path<String>,
) -> Result<Response, ApiError> {
    set_paused(state, slug, false).await
}

async fn set_paused(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    paused: bool,
) -> Result<Response, ApiError> {
    let shown = app
        .db
        .run(move |c| {
            services::set_paused(c, &slug, paused)?;
            shown(c, &slug)
        })
        .await?;
    Ok(Json(shown).into_response())
}

fn parse_kind(class: &str) -> Result<ServiceKind, ApiError> {
    ServiceKind::from_str(class).map_err(|e| ApiError::invalid(e.to_string()))
}

/// JSON settings as `--setting`s: `null` (or `""`) removes a key.
fn settings(map: serde_json::Map<String, serde_json::Value>) -> Vec<Setting> {
    map.into_iter()
        .map(|(key, value)| Setting {
            value: match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) if s.is_empty() => None,
                v => Some(v),
            },
            key,
        })
        .collect()
}

fn streamers(handles: &[String]) -> Result<Vec<Streamer>, ApiError> {
    handles
        .iter()
        .map(|h| Streamer::from_str(h).map_err(|e| ApiError::invalid(e.to_string())))
        .collect()
}

// ── Rules ────────────────────────────────────────────────────────────────────────────────

/// `GET /api/services/{slug}/rules` (as `ctl rule list --json`).
pub(crate) async fn rules(
    State(app): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let list = app
        .db
        .run(move |c| {
            let service = services::find(c, &slug)?;
            Ok::<_, ApiError>(rules::list(c, service.id)?)
        })
        .await?;
    Ok(Json(list).into_response())
}

/// A rule's fields as `ctl rule … --json` names them. Durations are `cooldown` text (`30s`,
/// as `--cooldown`) or `cooldown_ms`; in a PATCH, `null` removes a cooldown or the action,
/// and `conditions` replaces them all.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    name: Option<String>,
    event_type: Option<String>,
    priority: Option<i64>,
    is_async: Option<bool>,
    is_discardable: Option<bool>,
    is_enabled: Option<bool>,
    conditions: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    cooldown: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    cooldown_ms: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    user_cooldown: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    user_cooldown_ms: Option<Option<i64>>,
    streak_policy: Option<String>,
    #[serde(default, deserialize_with = "present")]
    action: Option<Option<String>>,
}

/// Tells a field set to `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl RuleBody {
    fn basics(&self) -> Result<Basics, ApiError> {
        Ok(Basics {
            priority: self
                .priority
                .map(Priority::new)
                .transpose()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
            is_async: self.is_async,
            is_discardable: self.is_discardable,
            is_enabled: self.is_enabled,
        })
    }

    fn event_type(&self) -> Result<Option<EventType>, ApiError> {
        self.event_type
            .as_deref()
            .map(EventType::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid(e.to_string()))
    }

    fn conditions(&self) -> Result<Option<Conditions>, ApiError> {
        self.conditions
            .clone()
            .map(|v| {
                serde_json::from_value::<Conditions>(v)
                    .map_err(|e| ApiError::invalid(format!("invalid conditions: {e}")))
            })
            .transpose()
    }

    fn streak(&self) -> Result<Option<StreakPolicy>, ApiError> {
        self.streak_policy
            .as_deref()
            .map(StreakPolicy::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// A cooldown given as text or milliseconds: `Some(None)` removes it.
fn cooldown(
    text: &Option<Option<String>>,
    ms: &Option<Option<i64>>,
) -> Result<Option<Option<Cooldown>>, ModelError> {
    match (text, ms) {
        (Some(Some(t)), _) => Ok(Some(Some(Cooldown::from_str(t)?))),
        (_, Some(Some(ms))) => Ok(Some(Some(Cooldown::from_ms(*ms)?))),
        (Some(None), _) | (_, Some(None)) => Ok(Some(None)),
        (None, None) => Ok(None),
    }
}

/// `POST /api/services/{slug}/rules` → 201 with the rule.
pub(crate) async fn add_rule(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: RuleBody = json_body(&body)?;
    let Some(event_type) = b.event_type()? else {
        return Err(ApiError::invalid(
            "a rule needs its event_type, e.g. \"GiftEvent\"",
        ));
    };
    let new = NewRule {
        name: b.name.clone().unwrap_or_default(),
        event_type: Some(event_type),
        basics: b.basics()?,
        conditions: b.conditions()?.unwrap_or_default(),
        cooldown: cooldown(&b.cooldown, &b.cooldown_ms)?.flatten(),
        user_cooldown: cooldown(&b.user_cooldown, &b.user_cooldown_ms)?.flatten(),
        streak: b.streak()?,
        action: b.action.clone().flatten(),
    };
    let rule = app
        .db
        .run(move |c| Ok::<_, ApiError>(rules::add(c, &slug, &new)?))
        .await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

/// `PATCH /api/services/{slug}/rules/{name}`.
pub(crate) async fn patch_rule(
    State(app): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: RuleBody = json_body(&body)?;
    if b.name.is_some() {
        return Err(ApiError::invalid(
            "a rule's name cannot change: add a rule with the new name and remove this one",
        ));
    }
    let conditions = b.conditions()?;
    let changes = RuleChanges {
        event_type: b.event_type()?,
        basics: b.basics()?,
        clear_conditions: conditions.is_some(),
        conditions: conditions.unwrap_or_default(),
        cooldown: cooldown(&b.cooldown, &b.cooldown_ms)?,
        user_cooldown: cooldown(&b.user_cooldown, &b.user_cooldown_ms)?,
        streak: b.streak()?,
        action: b.action.clone(),
    };
    let rule = app
        .db
        .run(move |c| Ok::<_, ApiError>(rules::set(c, &slug, &name, &changes)?))
        .await?;
    Ok(Json(rule).into_response())
}

/// `DELETE /api/services/{slug}/rules/{name}`.
pub(crate) async fn remove_rule(
    State(app): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let removed = name.clone();
    app.db
        .run(move |c| Ok::<_, ApiError>(rules::remove(c, &slug, &name)?))
        .await?;
    Ok(Json(serde_json::json!({ "removed": removed })).into_response())
}
