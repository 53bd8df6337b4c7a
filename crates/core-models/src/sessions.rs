//! Capture sessions: their lifecycle (used by the capture daemon) and inspection.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::{ModelError, ModelResult};
use crate::models::{now, LiveSession};
use crate::schema::live_sessions as ls;
use crate::status::SessionStatus;
use crate::text::{clean_line, clean_text};
use crate::with_conn;

/// Room id of test sessions: no LIVE has it (TikTok's are numbers).
pub const TEST_ROOM: &str = "test";

/// Opens a new `active` session.
pub fn start(
    conn: &mut DbConn,
    name: Option<&str>,
    room_id: &str,
    streamer_unique_id: &str,
) -> ModelResult<LiveSession> {
    conn.write_transaction(|conn| insert(conn, name, room_id, streamer_unique_id, false))
}

/// The open test session of a streamer, opened now if there is none: where test events
/// (`ctl event send`, the control room's test form) go, apart from the LIVEs. It stays open
/// (a capture starting for the streamer leaves it alone), so a streamer's test events gather
/// in one session, whose report shows what the rules made of them.
pub fn open_test(conn: &mut DbConn, streamer_unique_id: &str) -> ModelResult<LiveSession> {
    conn.write_transaction(|conn| {
        let open = with_conn!(conn, |c| ls::table
            .filter(ls::streamer_unique_id.eq(streamer_unique_id))
            .filter(ls::is_test.eq(true))
            .filter(ls::status.eq(SessionStatus::Active))
            .order(ls::id.desc())
            .select(LiveSession::as_select())
            .first(c)
            .optional())?;
        match open {
            Some(session) => Ok(session),
            None => insert(
                conn,
                Some("test events"),
                TEST_ROOM,
                streamer_unique_id,
                true,
            ),
        }
    })
}

fn insert(
    conn: &mut DbConn,
    name: Option<&str>,
    room_id: &str,
    streamer_unique_id: &str,
    is_test: bool,
) -> ModelResult<LiveSession> {
    let name = name.map(|n| clean_line(n, 255)).filter(|n| !n.is_empty());
    {
        let t = now();
        with_conn!(conn, |c| diesel::insert_into(ls::table)
            .values((
                ls::name.eq(&name),
                ls::started_at.eq(t),
                ls::status.eq(SessionStatus::Active),
                ls::room_id.eq(clean_line(room_id, 64)),
                ls::streamer_unique_id.eq(clean_line(streamer_unique_id, 255)),
                ls::total_events.eq(0i64),
                ls::is_test.eq(is_test),
                ls::created_at.eq(t),
                ls::updated_at.eq(t),
            ))
            .execute(c))?;
        let id = conn.last_insert_id()?;
        get(conn, id)
    }
}

/// Ends a session with a final status and an optional note.
pub fn finish(
    conn: &mut DbConn,
    id: i64,
    status: SessionStatus,
    notes: Option<&str>,
) -> ModelResult<()> {
    let t = now();
    let notes = notes.map(clean_text);
    conn.write_transaction(|conn| {
        with_conn!(conn, |c| diesel::update(ls::table.find(id))
            .set((
                ls::status.eq(status),
                ls::ended_at.eq(Some(t)),
                ls::notes.eq(&notes),
                ls::updated_at.eq(t),
            ))
            .execute(c))?;
        Ok(())
    })
}

/// Marks as `aborted` the sessions of this streamer still `active` (left by a killed
/// daemon), but `continued` (the session a daemon taking over goes on with); returns how
/// many.
pub fn abort_orphans(
    conn: &mut DbConn,
    streamer_unique_id: &str,
    continued: Option<i64>,
) -> ModelResult<usize> {
    let t = now();
    conn.write_transaction(|conn| {
        Ok(with_conn!(conn, |c| diesel::update(
            ls::table
                .filter(ls::streamer_unique_id.eq(streamer_unique_id))
                .filter(ls::status.eq(SessionStatus::Active))
                .filter(ls::is_test.eq(false))
                .filter(ls::id.ne(continued.unwrap_or(0)))
        )
        .set((
            ls::status.eq(SessionStatus::Aborted),
            ls::ended_at.eq(Some(t)),
            ls::notes.eq(Some("capture daemon stopped without closing the session")),
            ls::updated_at.eq(t),
        ))
        .execute(c))?)
    })
}

/// Adds `n` to a session's `total_events`.
pub fn add_events(conn: &mut DbConn, id: i64, n: i64) -> ModelResult<()> {
    if n == 0 {
        return Ok(());
    }
    // Once per dispatched batch: its statement is kept (diesel would prepare every UPDATE anew).
    with_conn!(conn, |c| crate::stmt::Cached::new(
        diesel::update(ls::table.find(id)).set((
            ls::total_events.eq(ls::total_events + n),
            ls::updated_at.eq(now()),
        ))
    )
    .execute(c))?;
    Ok(())
}

/// One session by id.
pub fn get(conn: &mut DbConn, id: i64) -> ModelResult<LiveSession> {
    with_conn!(conn, |c| ls::table
        .find(id)
        .select(LiveSession::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| {
        ModelError::NotFound(format!(
            "unknown session {id}: `ctl session list` shows the existing ones"
        ))
    })
}

/// The most recent sessions first, test sessions included (each says `is_test`).
pub fn list(conn: &mut DbConn, limit: i64) -> ModelResult<Vec<LiveSession>> {
    Ok(with_conn!(conn, |c| ls::table
        .order(ls::id.desc())
        .limit(limit)
        .select(LiveSession::as_select())
        .load(c))?)
}

/// Totals across sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Sessions counted.
    pub sessions: i64,
    /// Their events.
    pub events: i64,
}

/// Totals across every session; test sessions only when `include_tests`.
pub fn totals(conn: &mut DbConn, include_tests: bool) -> ModelResult<Totals> {
    // One number per session: summed here, as SUM's type differs by backend.
    let counts: Vec<i64> = with_conn!(conn, |c| {
        let mut q = ls::table.select(ls::total_events).into_boxed();
        if !include_tests {
            q = q.filter(ls::is_test.eq(false));
        }
        q.load(c)
    })?;
    Ok(Totals {
        sessions: counts.len() as i64,
        events: counts.iter().sum(),
    })
}
