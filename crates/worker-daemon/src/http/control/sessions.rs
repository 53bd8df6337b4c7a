//! `/api/sessions…` and `/api/events`: the sessions, their reports, and the events browser
//! with its CSV and JSON exports. Read only.

use std::str::FromStr;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::event_search::{self, EventFilter};
use core_models::{report, sessions, EventType};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// `?limit=`.
#[derive(Deserialize)]
pub(crate) struct SessionsQuery {
    limit: Option<i64>,
}

/// `GET /api/sessions` (as `ctl session list --json`: test sessions say `is_test: true`).
pub(crate) async fn list(
    State(app): State<AppState>,
    Query(q): Query<SessionsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is out of range: use 1 to 1000"
        )));
    }
    let list = app
        .db
        .run(move |c| Ok::<_, ApiError>(sessions::list(c, limit)?))
        .await?;
    Ok(Json(list).into_response())
}

/// `GET /api/sessions/{id}/report` (as `ctl session report ID --json`).
pub(crate) async fn report(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("unknown session '{id}'")))?;
    let r = app
        .db
        .run(move |c| Ok::<_, ApiError>(report::session_report(c, id)?))
        .await?;
    Ok(Json(r).into_response())
}

/// `?session=&type=&user=&q=&before=&limit=&format=json|csv`.
#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    session: Option<i64>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    user: Option<String>,
    q: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
    format: Option<String>,
}

/// `GET /api/events`: newest first; `format=csv` downloads the same rows as a CSV file.
pub(crate) async fn events(
    State(app): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown format '{other}': use json or csv"
            )))
        }
    };
    let event_type = q
        .event_type
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(EventType::from_str)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let filter = EventFilter {
        session: q.session,
        event_type,
        user: q.user,
        text: q.q,
        before: q.before,
        limit: q.limit.unwrap_or(100),
    }
    .checked()?;
    let found = app
        .db
        .run(move |c| Ok::<_, ApiError>(event_search::search(c, &filter)?))
        .await?;
    if !csv {
        return Ok(Json(found).into_response());
    }
    let mut body = String::from(event_search::CSV_HEADER);
    body.push_str("\r\n");
    for e in &found {
        body.push_str(&event_search::csv_record(e));
        body.push_str("\r\n");
    }
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"events.csv\""),
    );
    Ok(response)
}
