//! Reading a service's `settings` object: the limits every kind has ([`RunLimits`]), and the
//! typed look-ups the kinds build themselves with, which fail with a [`BuildError`] naming the
//! setting.

use std::time::Duration;

/// A service's settings object.
pub type Settings = serde_json::Map<String, serde_json::Value>;

/// Limits every service has, read from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunLimits {
    /// ASYNC items in flight at once (`max_concurrency`, default 8).
    pub max_concurrency: usize,
    /// Longest a single `process_event` may take (`timeout_ms`, default 30 000).
    pub timeout: Duration,
    /// Claims before an item whose worker keeps dying is failed (`max_attempts`, default 5).
    pub max_attempts: i32,
}

impl RunLimits {
    /// Reads the limits from a service's settings, falling back to the defaults.
    pub fn from_settings(settings: &Settings) -> RunLimits {
        let int = |key: &str, default: u64, min: u64| {
            settings
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .map_or(default, |v| v.max(min))
        };
        RunLimits {
            max_concurrency: int("max_concurrency", 8, 1) as usize,
            timeout: Duration::from_millis(int("timeout_ms", 30_000, 1)),
            max_attempts: int("max_attempts", 5, 1).min(i32::MAX as u64) as i32,
        }
    }
}

/// A service whose row cannot be turned into a running service.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `service_class` names no registered kind.
    #[error("{0}")]
    UnknownKind(#[from] core_models::UnknownName),
    /// A setting is missing or has the wrong type.
    #[error("setting '{key}' {problem}")]
    Setting {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// A string setting, required.
pub(super) fn required_str(settings: &Settings, key: &'static str) -> Result<String, BuildError> {
    match settings.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(serde_json::Value::String(_)) | None => Err(BuildError::Setting {
            key,
            problem: format!("is required: `ctl service set SLUG --setting {key}=…`"),
        }),
        Some(other) => Err(BuildError::Setting {
            key,
            problem: format!("must be a string, not {other}"),
        }),
    }
}

/// A whole-number setting with a default.
pub(super) fn u64_setting(settings: &Settings, key: &str, default: u64) -> u64 {
    settings
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(default)
}
