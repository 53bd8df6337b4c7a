//! Storing a batch of captured events in `live_events`: cleaning, de-duplication by
//! (room_id, msg_id), multi-row inserts, and finding the ids the rows got.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use core_models::schema::live_events as le;
use core_models::text::{clean_json_string, clean_line};
use core_models::{with_conn, CapturedEvent, DbConn, EventType, StreakStatus};
use diesel::prelude::*;

use crate::error::DispatchError;

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound variables and MySQL's 65,535
/// placeholders for the 15 columns of a `live_events` row.
const INSERT_CHUNK: usize = 500;
/// Values per `IN (…)` list.
const IN_CHUNK: usize = 1000;

/// The capture session a batch belongs to: room and streamer come from it, not from the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    /// `live_sessions.id`.
    pub session_id: i64,
    /// TikTok room id of the LIVE (de-duplication is per room).
    pub room_id: String,
    /// The streamer's @handle.
    pub streamer_unique_id: String,
}

impl SessionContext {
    /// The context of a stored session.
    pub fn of(session: &core_models::LiveSession) -> SessionContext {
        SessionContext {
            session_id: session.id,
            room_id: session.room_id.clone(),
            streamer_unique_id: session.streamer_unique_id.clone(),
        }
    }
}

/// A `live_events` row ready to insert, cleaned of control characters and cut to the columns'
/// lengths. `None` is stored as NULL (not DEFAULT) so SQLite can take many rows per INSERT.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = le, treat_none_as_default_value = false)]
pub(crate) struct NewLiveEvent {
    pub session_id: i64,
    pub event_type: EventType,
    pub timestamp: NaiveDateTime,
    pub room_id: String,
    pub streamer_unique_id: String,
    pub user_id: Option<String>,
    pub user_unique_id: Option<String>,
    pub user_nickname: Option<String>,
    pub is_streaking: bool,
    pub streak_id: Option<String>,
    pub streak_status: Option<StreakStatus>,
    pub event_data: String,
    pub msg_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Cleans every string that came from TikTok and builds the rows (done once per batch, not
/// once per retry).
pub(crate) fn prepare(
    ctx: &SessionContext,
    events: &[CapturedEvent],
    now: NaiveDateTime,
) -> Vec<NewLiveEvent> {
    use chrono::SubsecRound;
    let room_id = clean_line(&ctx.room_id, 64);
    let streamer = clean_line(&ctx.streamer_unique_id, 255);
    let opt = |s: &Option<String>, n: usize| s.as_deref().map(|s| clean_line(s, n));
    events
        .iter()
        .map(|e| NewLiveEvent {
            session_id: ctx.session_id,
            event_type: e.event_type,
            timestamp: e.timestamp.naive_utc().trunc_subsecs(6),
            room_id: room_id.clone(),
            streamer_unique_id: streamer.clone(),
            user_id: opt(&e.user_id, 64),
            user_unique_id: opt(&e.user_unique_id, 255),
            user_nickname: opt(&e.user_nickname, 255),
            is_streaking: e.is_streaking(),
            streak_id: e.streak.as_ref().map(|s| clean_line(&s.id, 128)),
            streak_status: e.streak.as_ref().map(|s| s.status),
            event_data: clean_json_string(&e.data),
            msg_id: e.msg_id,
            // Receipt time when the capture knows it: queue lag counts from there.
            created_at: e
                .received_at
                .map_or(now, |r| r.naive_utc().trunc_subsecs(6)),
            updated_at: now,
        })
        .collect()
}

/// The ids of already stored messages of `room_id` among `msg_ids`, by msg_id.
fn stored_ids(
    conn: &mut DbConn,
    room_id: &str,
    msg_ids: &[i64],
) -> Result<HashMap<i64, i64>, DispatchError> {
    let mut found = HashMap::with_capacity(msg_ids.len());
    for chunk in msg_ids.chunks(IN_CHUNK) {
        let rows: Vec<(Option<i64>, i64)> = with_conn!(conn, |c| le::table
            .filter(le::room_id.eq(room_id))
            .filter(le::msg_id.eq_any(chunk))
            .select((le::msg_id, le::id))
            .load(c))?;
        found.extend(rows.into_iter().filter_map(|(m, id)| Some((m?, id))));
    }
    Ok(found)
}

/// Stores the rows that are not duplicates and returns, per row, the id it was stored as
/// (`None` for a duplicate of a stored message or of an earlier row of the batch).
///
/// Rows with a msg_id go in multi-row INSERTs and their ids are read back by the unique key
/// (room_id, msg_id): with concurrent inserts MySQL does not promise consecutive ids, so
/// LAST_INSERT_ID arithmetic would be a guess. Rows without a msg_id (rare: TikTok gives
/// nearly every message one) cannot be found again by key, so each is inserted alone and
/// takes its id from `last_insert_id`.
pub(crate) fn store(
    conn: &mut DbConn,
    rows: &[NewLiveEvent],
) -> Result<Vec<Option<i64>>, DispatchError> {
    let Some(room_id) = rows.first().map(|r| r.room_id.as_str()) else {
        return Ok(Vec::new());
    };
    let keyed: Vec<i64> = rows.iter().filter_map(|r| r.msg_id).collect();
    let already = stored_ids(conn, room_id, &keyed)?;

    // Which rows to insert: not stored yet, and the first of the batch with its msg_id.
    let mut seen = HashSet::with_capacity(keyed.len());
    let fresh: Vec<bool> = rows
        .iter()
        .map(|r| match r.msg_id {
            Some(m) => !already.contains_key(&m) && seen.insert(m),
            None => true,
        })
        .collect();

    let to_insert: Vec<NewLiveEvent> = rows
        .iter()
        .zip(&fresh)
        .filter(|(r, f)| **f && r.msg_id.is_some())
        .map(|(r, _)| r.clone())
        .collect();
    for chunk in to_insert.chunks(INSERT_CHUNK) {
        with_conn!(conn, |c| diesel::insert_into(le::table)
            .values(chunk)
            .execute(c))?;
    }
    let new_keys: Vec<i64> = to_insert.iter().filter_map(|r| r.msg_id).collect();
    let inserted = stored_ids(conn, room_id, &new_keys)?;

    let mut ids = Vec::with_capacity(rows.len());
    for (row, fresh) in rows.iter().zip(fresh) {
        ids.push(match (fresh, row.msg_id) {
            (false, _) => None,
            (true, Some(m)) => inserted.get(&m).copied(),
            (true, None) => {
                with_conn!(conn, |c| diesel::insert_into(le::table)
                    .values(row)
                    .execute(c))?;
                Some(conn.last_insert_id()?)
            }
        });
    }
    Ok(ids)
}
