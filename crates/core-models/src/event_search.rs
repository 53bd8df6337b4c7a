//! The events browser: stored events filtered by session, type, viewer and text, newest
//! first. Read only; `ctl event list` and `GET /api/events` both call [`search`].

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::{ModelError, ModelResult};
use crate::event::EventType;
use crate::models::LiveEvent;
use crate::schema::live_events as le;
use crate::with_conn;

/// Most events one search returns (an export included).
pub const MAX_LIMIT: i64 = 10_000;

/// What to look for; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this session's events.
    pub session: Option<i64>,
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// Only this viewer's (@handle, with or without the `@`).
    pub user: Option<String>,
    /// Only events whose payload or viewer name contains this text.
    pub text: Option<String>,
    /// Only events older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many (1 to [`MAX_LIMIT`]).
    pub limit: i64,
}

impl EventFilter {
    /// Checks the limit; the error says what is allowed.
    pub fn checked(self) -> ModelResult<EventFilter> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(ModelError::Invalid(format!(
                "limit {} is out of range: use 1 to {MAX_LIMIT}",
                self.limit
            )));
        }
        Ok(self)
    }
}

/// The events `filter` matches, newest first.
pub fn search(conn: &mut DbConn, filter: &EventFilter) -> ModelResult<Vec<LiveEvent>> {
    let user = filter
        .user
        .as_deref()
        .map(|u| u.trim().trim_start_matches('@').to_owned())
        .filter(|u| !u.is_empty());
    let text = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(like_pattern);
    Ok(with_conn!(conn, |c| {
        let mut q = le::table
            .order(le::id.desc())
            .limit(filter.limit)
            .select(LiveEvent::as_select())
            .into_boxed();
        if let Some(session) = filter.session {
            q = q.filter(le::session_id.eq(session));
        }
        if let Some(t) = filter.event_type {
            q = q.filter(le::event_type.eq(t));
        }
        if let Some(user) = &user {
            q = q.filter(le::user_unique_id.eq(user));
        }
        if let Some(text) = &text {
            q = q.filter(
                le::event_data
                    .like(text)
                    .escape('\\')
                    .or(le::user_nickname.like(text).escape('\\')),
            );
        }
        if let Some(before) = filter.before {
            q = q.filter(le::id.lt(before));
        }
        q.load(c)
    })?)
}

/// `%text%` with `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The columns of an export, in order.
pub const CSV_HEADER: &str =
    "id,session_id,event_type,timestamp,user_unique_id,user_nickname,streak_status,event_data";

/// One event as a CSV record (RFC 4180 quoting), without the line end. Fields that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) are prefixed with `'`.
pub fn csv_record(e: &LiveEvent) -> String {
    let fields = [
        e.id.to_string(),
        e.session_id.to_string(),
        e.event_type.as_str().to_owned(),
        e.timestamp.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        e.user_unique_id.clone().unwrap_or_default(),
        e.user_nickname.clone().unwrap_or_default(),
        e.streak_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        e.event_data.clone(),
    ];
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
