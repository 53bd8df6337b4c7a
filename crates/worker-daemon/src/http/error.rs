//! The API's errors: one JSON shape, `{"error": "…"}`, with the status that says whose fault
//! it was. The sentences are the ones `ctl` prints, because both come from the same checks.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use core_models::{DbError, ModelError};
use dispatcher::EngineError;

/// What an API request can fail with.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Bad input (422); nothing was written.
    Invalid(String),
    /// Something named does not exist (404).
    NotFound(String),
    /// The database failed (503): the request may be tried again.
    Unavailable(String),
}

impl ApiError {
    /// A bad-input error.
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::Invalid(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Invalid(m) => ApiError::Invalid(m),
            ModelError::NotFound(m) => ApiError::NotFound(m),
            ModelError::Db(e) => e.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        // The detail goes to the log, not to the page: it may name hosts and users.
        tracing::warn!("api: database error: {e}");
        ApiError::Unavailable("the database is not answering; try again in a moment".into())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Model(m) => m.into(),
            EngineError::InvalidOwner(_) => ApiError::Invalid(e.to_string()),
            other => {
                tracing::warn!("api: queue engine error: {other}");
                ApiError::Unavailable("the database is not answering; try again in a moment".into())
            }
        }
    }
}

/// Parses a JSON request body; a body that is not the expected JSON is a 422 naming why.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid: {e}")))
}
