//! `/api/queue/{slug}…`: a service's items in claim order, and the operator's hand on them
//! (clear, retry, skip), through the same engine operations as `ctl queue`.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::{services, QueueReason, QueueStatus};
use dispatcher::{Engine, ListParams};
use serde::Deserialize;

use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;

/// Most items one listing returns.
const MAX_LIMIT: i64 = 1_000;

/// `?status=&reason=&limit=`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    reason: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/queue/{slug}` (as `ctl queue list --json`).
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = parse_opt::<QueueStatus>(q.status.as_deref())?;
    let reason = parse_opt::<QueueReason>(q.reason.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is out of range: use 1 to {MAX_LIMIT}"
        )));
    }
    let entries = app
        .db
        .run(move |c| {
            let service = services::find(c, &slug)?;
            Ok::<_, ApiError>(Engine::new(c).list(ListParams {
                service_id: service.id,
                status,
                reason,
                limit,
            })?)
        })
        .await?;
    Ok(Json(entries).into_response())
}

/// A `?status=`-like value; empty means none.
fn parse_opt<T: FromStr>(value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .filter(|v| !v.is_empty())
        .map(|v| T::from_str(v).map_err(|e| ApiError::invalid(e.to_string())))
        .transpose()
}

/// `POST /api/queue/{slug}/clear` → `{"cleared": N}`.
pub(crate) async fn clear(
    State(app): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let n = app
        .db
        .run(move |c| Ok::<_, ApiError>(Engine::new(c).clear(&slug)?))
        .await?;
    Ok(Json(serde_json::json!({ "cleared": n })).into_response())
}

/// `{"id": N}` or `{}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    id: Option<i64>,
}

/// `POST /api/queue/{slug}/retry` (body `{"id": N}` for one item) → `{"retried": N}`.
pub(crate) async fn retry(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ItemBody = json_body(&body)?;
    let n = app
        .db
        .run(move |c| Ok::<_, ApiError>(Engine::new(c).retry_failed(&slug, b.id)?))
        .await?;
    Ok(Json(serde_json::json!({ "retried": n })).into_response())
}

/// `POST /api/queue/{slug}/skip` (body `{"id": N}`): the running item becomes failed
/// (reason `skipped`) and this daemon's runner, if it runs it, moves on at once.
pub(crate) async fn skip(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ItemBody = json_body(&body)?;
    let Some(id) = b.id else {
        return Err(ApiError::invalid("give the item to skip: {\"id\": N}"));
    };
    app.db
        .run(move |c| Ok::<_, ApiError>(Engine::new(c).skip(&slug, id)?))
        .await?;
    app.skips.announce(id);
    Ok(Json(serde_json::json!({ "skipped": id })).into_response())
}
