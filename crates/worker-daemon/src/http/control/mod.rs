//! The control room's JSON API under `/api/`: services and rules, queues, sessions and
//! reports, events, test events and settings. Every handler calls the same repository and
//! engine functions as `ctl`, so the checks and their sentences are the same; errors are
//! `{"error": …}` with 422 (bad input, nothing written), 404 (unknown), 403 (CSRF, see
//! `csrf`) or 503 (database).

pub(super) mod queue;
pub(super) mod services;
pub(super) mod sessions;
pub(super) mod settings_api;
pub(super) mod test_events;

use axum::routing::{get, post};
use axum::Router;

use super::state::AppState;

/// The `/api/…` routes of the control room.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/services", get(services::list).post(services::add))
        .route(
            "/api/services/{slug}",
            get(services::show)
                .patch(services::patch)
                .delete(services::remove),
        )
        .route("/api/services/{slug}/pause", post(services::pause))
        .route("/api/services/{slug}/resume", post(services::resume))
        .route(
            "/api/services/{slug}/rules",
            get(services::rules).post(services::add_rule),
        )
        .route(
            "/api/services/{slug}/rules/{name}",
            axum::routing::patch(services::patch_rule).delete(services::remove_rule),
        )
        .route("/api/queue/{slug}", get(queue::list))
        .route("/api/queue/{slug}/clear", post(queue::clear))
        .route("/api/queue/{slug}/retry", post(queue::retry))
        .route("/api/queue/{slug}/skip", post(queue::skip))
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/{id}/report", get(sessions::report))
        .route("/api/events", get(sessions::events))
        .route("/api/test-events", post(test_events::send))
        .route("/api/config", get(settings_api::list))
        .route(
            "/api/config/{key}",
            get(settings_api::get).put(settings_api::put),
        )
}
