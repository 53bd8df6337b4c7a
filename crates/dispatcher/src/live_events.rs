//! Storing a batch's events in `live_events`: cleaning, de-duplication (by (room_id, msg_id),
//! and by streak for synthesised streak ends), multi-row inserts, and finding the ids the rows
//! got.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use core_models::schema::live_events as le;
use core_models::stmt::{cacheable_rows, padded, Cached, SqliteInsert};
use core_models::text::{clean_json_string, clean_line};
use core_models::{with_conn, CapturedEvent, DbConn, EventType, StreakStatus};
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable};

use crate::batch::SessionRef;
use crate::error::EngineError;

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound variables and MySQL's 65,535
/// placeholders for the 15 columns of a `live_events` row.
const INSERT_CHUNK: usize = 500;
/// Values per `IN (…)` list.
const IN_CHUNK: usize = 1000;

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
    session: &SessionRef,
    events: &[&CapturedEvent],
    now: NaiveDateTime,
) -> Vec<NewLiveEvent> {
    use chrono::SubsecRound;
    let room_id = clean_line(&session.room_id, 64);
    let streamer = clean_line(&session.streamer_unique_id, 255);
    let opt = |s: &Option<String>, n: usize| s.as_deref().map(|s| clean_line(s, n));
    events
        .iter()
        .map(|e| NewLiveEvent {
            session_id: session.session_id,
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
) -> Result<HashMap<i64, i64>, EngineError> {
    let mut found = HashMap::with_capacity(msg_ids.len());
    for chunk in msg_ids.chunks(IN_CHUNK) {
        let chunk = padded(chunk);
        let rows: Vec<(Option<i64>, i64)> = with_conn!(conn, |c| Cached::new(
            le::table
                .filter(le::room_id.eq(room_id))
                .filter(le::msg_id.eq_any(&chunk))
                .select((le::msg_id, le::id))
        )
        .load(c))?;
        found.extend(rows.into_iter().filter_map(|(m, id)| Some((m?, id))));
    }
    Ok(found)
}

/// Whether the room already has an end row for this streak: a synthesised streak end (see
/// [`CapturedEvent::is_synthetic_streak_end`]) has no msg_id to be found by, and a batch
/// committed twice (an unknown commit outcome, a spool replayed after kill -9) must not store
/// it twice.
fn streak_end_stored(
    conn: &mut DbConn,
    room_id: &str,
    streak_id: Option<&str>,
) -> Result<bool, EngineError> {
    let streak_id = streak_id.unwrap_or_default();
    let found: i64 = with_conn!(conn, |c| le::table
        .filter(le::room_id.eq(room_id))
        .filter(le::streak_id.eq(streak_id))
        .filter(le::streak_status.eq(StreakStatus::End.as_str()))
        .count()
        .get_result(c))?;
    if found > 0 {
        tracing::debug!(%streak_id, "streak end already stored; skipped");
    }
    Ok(found > 0)
}

/// Which rows are new: not stored yet (by msg_id, or by streak for a synthesised end) and
/// the first of the batch with their msg_id. `rows` and `events` are the same batch.
fn fresh_rows(
    conn: &mut DbConn,
    rows: &[NewLiveEvent],
    events: &[&CapturedEvent],
    room_id: &str,
    already: &HashMap<i64, i64>,
) -> Result<Vec<bool>, EngineError> {
    let mut seen = HashSet::with_capacity(rows.len());
    let mut fresh = Vec::with_capacity(rows.len());
    for (row, event) in rows.iter().zip(events) {
        fresh.push(match row.msg_id {
            Some(m) => !already.contains_key(&m) && seen.insert(m),
            None if event.is_synthetic_streak_end() => {
                !streak_end_stored(conn, room_id, row.streak_id.as_deref())?
            }
            None => true,
        });
    }
    Ok(fresh)
}

/// Stores the rows that are not duplicates and returns, per row, the id it was stored as
/// (`None` for a duplicate of a stored message or of an earlier row of the batch). `rows` are
/// [`prepare`]d from `events`, in the same order.
///
/// Rows with a msg_id go in multi-row INSERTs (see [`insert_keyed`] for how their ids come
/// back). Rows without a msg_id (rare: TikTok gives nearly every message one) cannot be found
/// again by key, so each is inserted alone and takes its id from `last_insert_id`.
pub(crate) fn store(
    conn: &mut DbConn,
    rows: &[NewLiveEvent],
    events: &[&CapturedEvent],
) -> Result<Vec<Option<i64>>, EngineError> {
    let Some(room_id) = rows.first().map(|r| r.room_id.as_str()) else {
        return Ok(Vec::new());
    };
    // SQLite and MariaDB skip stored messages in the INSERT itself (see `insert_keyed`);
    // MySQL finds them first.
    let already = if conn.insert_returning() {
        HashMap::new()
    } else {
        let keyed: Vec<i64> = rows.iter().filter_map(|r| r.msg_id).collect();
        stored_ids(conn, room_id, &keyed)?
    };
    let fresh = fresh_rows(conn, rows, events, room_id, &already)?;

    let to_insert: Vec<NewLiveEvent> = rows
        .iter()
        .zip(&fresh)
        .filter(|(r, f)| **f && r.msg_id.is_some())
        .map(|(r, _)| r.clone())
        .collect();
    let inserted = insert_keyed(conn, room_id, &to_insert)?;

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

/// Inserts rows that all have a msg_id; returns the ids they got, by msg_id.
///
/// MariaDB 10.5+ skips the messages already stored and hands the new rows' ids back, in one
/// statement (`INSERT IGNORE … RETURNING id, msg_id`, matched by msg_id, so the order of the
/// returned rows does not matter; see [`insert_refused`] for the rows it skips). On older
/// MySQL they are read back by the unique key (room_id, msg_id): MySQL 8's default
/// `innodb_autoinc_lock_mode = 2` (and Galera's) does not promise a multi-row insert
/// consecutive ids, so LAST_INSERT_ID arithmetic would be a guess.
///
/// SQLite skips the messages already stored (`ON CONFLICT (room_id, msg_id) DO NOTHING`), so
/// it needs no read before, and numbers the rows itself (see [`sqlite_ids`]): `RETURNING`
/// would copy every new row into a temporary table first, which cost about a third of the
/// insert.
fn insert_keyed(
    conn: &mut DbConn,
    room_id: &str,
    rows: &[NewLiveEvent],
) -> Result<HashMap<i64, i64>, EngineError> {
    let returning = conn.insert_returning();
    let mut ids = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_CHUNK) {
        let keep = cacheable_rows(chunk.len(), INSERT_CHUNK);
        match conn {
            DbConn::Mysql(c) if returning => {
                let insert = diesel::insert_or_ignore_into(le::table).values(chunk);
                let made: Vec<(i64, Option<i64>)> =
                    Cached::when(keep, ReturningKeys(insert)).load(c)?;
                let before = ids.len();
                ids.extend(by_msg_id(made));
                if ids.len() - before < chunk.len() {
                    ids.extend(insert_refused(conn, room_id, chunk, &ids)?);
                }
            }
            DbConn::Mysql(c) => {
                let insert = diesel::insert_into(le::table).values(chunk);
                Cached::when(keep, insert).execute(c)?;
            }
            DbConn::Sqlite(c) => {
                let inserted = SqliteInsert::new::<NewLiveEvent>(le::table, chunk, keep)
                    .skip_conflicts_on("room_id, msg_id")
                    .execute(c)?;
                ids.extend(sqlite_ids(conn, room_id, chunk, inserted)?);
            }
        }
    }
    if matches!(conn, DbConn::Mysql(_)) && !returning {
        let keys: Vec<i64> = rows.iter().filter_map(|r| r.msg_id).collect();
        ids = stored_ids(conn, room_id, &keys)?;
    }
    Ok(ids)
}

/// The rows of a MariaDB chunk that `INSERT IGNORE` did not store (absent from `ids`): those
/// already stored are duplicates, as expected, and get no id. `IGNORE` also turns other
/// refusals into warnings (a session gone from under its events, say), so any other row is
/// inserted again without it, to fail with the database's own error, or to store it after all.
/// Duplicates are rare (a replayed spool, an overlapping standby), so this costs nothing on
/// the common path.
fn insert_refused(
    conn: &mut DbConn,
    room_id: &str,
    chunk: &[NewLiveEvent],
    ids: &HashMap<i64, i64>,
) -> Result<HashMap<i64, i64>, EngineError> {
    let left: Vec<&NewLiveEvent> = chunk
        .iter()
        .filter(|r| r.msg_id.is_some_and(|m| !ids.contains_key(&m)))
        .collect();
    let keys: Vec<i64> = left.iter().filter_map(|r| r.msg_id).collect();
    let stored = stored_ids(conn, room_id, &keys)?;
    let refused: Vec<&NewLiveEvent> = left
        .into_iter()
        .filter(|r| r.msg_id.is_some_and(|m| !stored.contains_key(&m)))
        .collect();
    if refused.is_empty() {
        return Ok(HashMap::new());
    }
    let DbConn::Mysql(c) = conn else {
        return Ok(HashMap::new());
    };
    let made: Vec<(i64, Option<i64>)> =
        ReturningKeys(diesel::insert_into(le::table).values(refused)).load(c)?;
    Ok(by_msg_id(made).collect())
}

/// What `RETURNING id, msg_id` gave back, as (msg_id, id) pairs.
fn by_msg_id(made: Vec<(i64, Option<i64>)>) -> impl Iterator<Item = (i64, i64)> {
    made.into_iter().filter_map(|(id, m)| Some((m?, id)))
}

/// The ids SQLite gave the `inserted` rows of a chunk it has just inserted (skipping those
/// already stored), by msg_id.
///
/// The batch holds SQLite's write lock (`BEGIN IMMEDIATE`) and `live_events` is an
/// `AUTOINCREMENT` table, so when every row of the chunk went in, they were numbered
/// consecutively in VALUES order, the last being `last_insert_rowid()`. That is checked by
/// reading the first and the last back by id. Otherwise (some rows were already stored: a
/// skipped row may still have used up an id, so the numbers have gaps), the chunk is read
/// back by key: its `inserted` highest ids are the new rows, as every id handed out before
/// this INSERT is lower.
fn sqlite_ids(
    conn: &mut DbConn,
    room_id: &str,
    chunk: &[NewLiveEvent],
    inserted: usize,
) -> Result<HashMap<i64, i64>, EngineError> {
    if inserted == 0 {
        return Ok(HashMap::new());
    }
    if inserted == chunk.len() {
        let last = conn.last_insert_id()?;
        let first = last - i64::try_from(inserted).unwrap_or(i64::MAX) + 1;
        let numbered: Vec<(Option<i64>, i64)> =
            chunk.iter().map(|r| r.msg_id).zip(first..).collect();
        if ends_stored_as(conn, &numbered)? {
            return Ok(numbered
                .into_iter()
                .filter_map(|(m, id)| Some((m?, id)))
                .collect());
        }
        tracing::warn!("SQLite numbered an insert unexpectedly; reading its ids back");
    }
    let keys: Vec<i64> = chunk.iter().filter_map(|r| r.msg_id).collect();
    let mut found: Vec<(i64, i64)> = stored_ids(conn, room_id, &keys)?.into_iter().collect();
    found.sort_unstable_by_key(|&(_, id)| std::cmp::Reverse(id));
    found.truncate(inserted);
    Ok(found.into_iter().collect())
}

/// Whether the first and the last of `numbered` rows, `(msg_id, id)`, are stored under those
/// ids.
fn ends_stored_as(conn: &mut DbConn, numbered: &[(Option<i64>, i64)]) -> Result<bool, EngineError> {
    let (Some(&first), Some(&last)) = (numbered.first(), numbered.last()) else {
        return Ok(true);
    };
    let ends = [first.1, last.1];
    let stored: Vec<(i64, Option<i64>)> = with_conn!(conn, |c| Cached::new(
        le::table
            .filter(le::id.eq_any(&ends))
            .select((le::id, le::msg_id))
    )
    .load(c))?;
    Ok([first, last]
        .iter()
        .all(|&(msg_id, id)| stored.contains(&(id, msg_id))))
}

/// `INSERT … RETURNING id, msg_id` (MariaDB 10.5+): each new row's id with its msg_id.
struct ReturningKeys<I>(I);

impl<I> QueryId for ReturningKeys<I> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<I: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for ReturningKeys<I> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING id, msg_id");
        Ok(())
    }
}

impl<I> Query for ReturningKeys<I> {
    type SqlType = (BigInt, Nullable<BigInt>);
}

impl<I, Conn> RunQueryDsl<Conn> for ReturningKeys<I> {}
