//! The JSON endpoints: `/health`, `/api/stats`, `/api/csrf`, and the 404 of unknown paths.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::state::AppState;
use crate::stats::LagSummary;

/// `/health`: `{"status":"ok","pages":{"overlays":N,"dino":N}}`.
pub(super) async fn health(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "pages": app.hub.counts() }))
}

/// One service in `/api/stats`: its queue, and the lag of the items this daemon started.
#[derive(serde::Serialize)]
struct ServiceStats {
    #[serde(flatten)]
    queue: dispatcher::QueueStats,
    /// Capture → `process_event` lag since this daemon started; `null` for a service it has
    /// not run.
    lag: Option<LagSummary>,
}

/// `/api/stats`: every service's queue counts, with this daemon's lag of each.
pub(super) async fn stats(State(app): State<AppState>) -> Response {
    match app.queue.stats().await {
        Ok(stats) => {
            let lag: HashMap<String, LagSummary> = app
                .counters
                .lag()
                .into_iter()
                .filter_map(|(slug, l)| Some((slug, l.summary()?)))
                .collect();
            let body: Vec<ServiceStats> = stats
                .into_iter()
                .map(|queue| ServiceStats {
                    lag: lag.get(&queue.slug).copied(),
                    queue,
                })
                .collect();
            Json(body).into_response()
        }
        Err(e) => {
            tracing::warn!("/api/stats: {e:#}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "the database is not answering" })),
            )
                .into_response()
        }
    }
}

/// `/api/csrf`: `{"token": …}`, the value state-changing requests carry in `X-CSRF-Token`.
/// Another site cannot read it (no CORS headers), so it cannot forge those requests.
pub(super) async fn csrf(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "token": &*app.csrf, "header": super::csrf::HEADER }))
}

/// Anything else: 404, as JSON under `/api/`.
pub(super) async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no such endpoint: {}", uri.path()) })),
        )
            .into_response();
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
