//! Validated input types: a value of one of these is known to be acceptable to the database.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ModelError;
use crate::event::EventType;

/// A service slug: 1 to 100 characters of `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Slug(String);

impl Slug {
    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Slug {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Slug(s.to_owned()))
        } else {
            Err(ModelError::Invalid(format!(
                "invalid slug '{s}': use 1 to 100 characters of a-z, 0-9, '_' and '-' (e.g. my_service)"
            )))
        }
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub use events::Priority;

/// A queue size limit: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MaxQueueSize(i32);

impl MaxQueueSize {
    /// The original system's default.
    pub const DEFAULT: MaxQueueSize = MaxQueueSize(100);

    /// Checks the value.
    pub fn new(value: i64) -> Result<MaxQueueSize, ModelError> {
        if (1..=i64::from(i32::MAX)).contains(&value) {
            Ok(MaxQueueSize(value as i32))
        } else {
            Err(ModelError::Invalid(format!(
                "max queue size {value} is invalid: use a whole number of at least 1"
            )))
        }
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }
}

/// How one event type is routed to a service, as given on the command line
/// (`TYPE:PRIORITY:sync|async:keep|discard`, e.g. `GiftEvent:10:sync:keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventRoute {
    /// The event type.
    pub event_type: EventType,
    /// Its priority.
    pub priority: Priority,
    /// ASYNC (parallel) rather than SYNC (one at a time).
    pub is_async: bool,
    /// May be dropped when the queue is full.
    pub is_discardable: bool,
    /// Dispatched at all.
    pub is_enabled: bool,
}

impl FromStr for EventRoute {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || {
            ModelError::Invalid(format!(
                "invalid event route '{s}': expected TYPE:PRIORITY:sync|async:keep|discard, e.g. GiftEvent:10:sync:keep"
            ))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [ty, prio, mode, drop] = parts.as_slice() else {
            return Err(usage());
        };
        let is_async = match mode.to_ascii_lowercase().as_str() {
            "sync" => false,
            "async" => true,
            _ => return Err(usage()),
        };
        let is_discardable = match drop.to_ascii_lowercase().as_str() {
            "keep" => false,
            "discard" | "discardable" => true,
            _ => return Err(usage()),
        };
        Ok(EventRoute {
            event_type: ty.parse()?,
            priority: prio.parse()?,
            is_async,
            is_discardable,
            is_enabled: true,
        })
    }
}

/// A `key=value` service setting. The value is JSON when it parses as JSON (numbers, booleans,
/// quoted strings, objects), otherwise the text itself; an empty value removes the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// The value; `None` removes the key.
    pub value: Option<serde_json::Value>,
}

impl FromStr for Setting {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(ModelError::Invalid(format!(
                "invalid setting '{s}': expected key=value, e.g. command='python3 my_service.py'"
            )));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ModelError::Invalid(format!(
                "invalid setting '{s}': the key is empty"
            )));
        }
        let value = if value.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_owned())),
            )
        };
        Ok(Setting {
            key: key.to_owned(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!("my_service-2".parse::<Slug>().is_ok());
        for bad in ["", "My", "a b", "é", &"a".repeat(101)] {
            assert!(bad.parse::<Slug>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes() {
        let r: EventRoute = "GiftEvent:10:sync:keep".parse().unwrap();
        assert_eq!(r.event_type, EventType::Gift);
        assert!(!r.is_async && !r.is_discardable);
        let r: EventRoute = "like:2:async:discard".parse().unwrap();
        assert_eq!(r.event_type, EventType::Like);
        assert!(r.is_async && r.is_discardable);
        assert!("GiftEvent:10:sync".parse::<EventRoute>().is_err());
        assert!("Nope:1:sync:keep"
            .parse::<EventRoute>()
            .unwrap_err()
            .to_string()
            .contains("unknown event type 'Nope'"));
    }

    #[test]
    fn settings() {
        let s: Setting = "command=python3 my.py".parse().unwrap();
        assert_eq!(s.value, Some(serde_json::json!("python3 my.py")));
        let s: Setting = "max_concurrency=8".parse().unwrap();
        assert_eq!(s.value, Some(serde_json::json!(8)));
        let s: Setting = "url=".parse().unwrap();
        assert_eq!(s.value, None);
        assert!("novalue".parse::<Setting>().is_err());
    }
}
