//! `POST /api/test-events`: a made-up event through the real dispatch path, as
//! `ctl event send`.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::{config_store, EventType, Streamer};
use dispatcher::{Engine, TestEvent};
use serde::Deserialize;

use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;

/// The fields of `ctl event send`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEventBody {
    event_type: String,
    #[serde(default = "default_user")]
    user: String,
    gift: Option<String>,
    #[serde(default = "one")]
    count: i64,
    diamonds: Option<i64>,
    comment: Option<String>,
    /// Default: the `tiktok_user` setting.
    streamer: Option<String>,
}

fn default_user() -> String {
    "test_viewer".into()
}
fn one() -> i64 {
    1
}

/// `POST /api/test-events` → 201 with what dispatch did (as `ctl event send --json`).
pub(crate) async fn send(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: TestEventBody = json_body(&body)?;
    let event_type =
        EventType::from_str(&b.event_type).map_err(|e| ApiError::invalid(e.to_string()))?;
    let given = b
        .streamer
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(Streamer::from_str)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let sent = app
        .db
        .run(move |c| {
            let streamer = match given {
                Some(s) => s,
                None => config_store::default_streamer(c)?,
            };
            let event = TestEvent {
                event_type,
                streamer,
                user: b.user,
                gift: b.gift,
                count: b.count,
                diamonds: b.diamonds,
                comment: b.comment,
            };
            Ok::<_, ApiError>(Engine::new(c).send_test_event(&event)?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}
