//! `/api/config…`: the key-value settings (`tiktok_user`, …), as `ctl config`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::config_store;
use serde::Deserialize;

use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;

/// `GET /api/config`: `{key: value}` (as `ctl config list --json`).
pub(crate) async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let all = app
        .db
        .run(|c| Ok::<_, ApiError>(config_store::as_map(c)?))
        .await?;
    Ok(Json(all).into_response())
}

/// `GET /api/config/{key}` → `{"key": …, "value": …}`.
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let k = key.clone();
    let value = app
        .db
        .run(move |c| Ok::<_, ApiError>(config_store::get(c, &k)?))
        .await?;
    match value {
        Some(value) => Ok(Json(serde_json::json!({ "key": key, "value": value })).into_response()),
        None => Err(ApiError::NotFound(format!(
            "no setting '{key}': `ctl config list` shows the existing ones"
        ))),
    }
}

/// `{"value": "…"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueBody {
    value: String,
}

/// `PUT /api/config/{key}` → `{"key": …, "value": …, "previous": …}`.
pub(crate) async fn put(
    State(app): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ValueBody = json_body(&body)?;
    let (k, v) = (key.clone(), b.value.clone());
    let previous = app
        .db
        .run(move |c| Ok::<_, ApiError>(config_store::set(c, &k, &v)?))
        .await?;
    let value = app
        .db
        .run(move |c| Ok::<_, ApiError>(config_store::get(c, &key)?))
        .await?;
    Ok(Json(serde_json::json!({ "value": value, "previous": previous })).into_response())
}
