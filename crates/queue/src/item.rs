//! What a worker does with an item it claimed: complete it, fail it, hand it back, or extend
//! its lease. Every change requires the item to be `processing` under the caller's name, so a
//! worker that lost its lease (rescued and claimed by someone else) cannot touch it.

use std::time::Duration;

use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::text::clean_text;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;

use crate::error::{check_owner, retry, QueueError};
use crate::time::deadline;

/// Longest `last_error` kept, in characters (the column is a TEXT: 64 KiB on MySQL).
const MAX_ERROR_CHARS: usize = 8_000;

/// Marks an item `completed`. Returns false (and changes nothing) unless it is `processing`
/// and held by `owner`.
pub fn complete(conn: &mut DbConn, item_id: i64, owner: &str) -> Result<bool, QueueError> {
    let owner = check_owner(owner)?;
    let t = now();
    let n = retry(|| complete_in_tx(conn, &[item_id], owner, t))?;
    Ok(n == 1)
}

/// The UPDATE of [`complete`] for many items at once (at most a few hundred ids), on its own
/// or inside a caller's transaction: marks those `processing` under `owner` completed at `t`
/// and returns how many it changed.
pub(crate) fn complete_in_tx(
    conn: &mut DbConn,
    item_ids: &[i64],
    owner: &str,
    t: chrono::NaiveDateTime,
) -> Result<u64, QueueError> {
    let n = with_conn!(conn, |c| diesel::update(
        eq::table
            .filter(eq::id.eq_any(item_ids))
            .filter(eq::status.eq(QueueStatus::Processing))
            .filter(eq::locked_by.eq(owner))
    )
    .set((
        eq::status.eq(QueueStatus::Completed),
        eq::locked_until.eq(None::<chrono::NaiveDateTime>),
        eq::processed_at.eq(Some(t)),
        eq::updated_at.eq(t),
    ))
    .execute(c))?;
    Ok(n as u64)
}

/// Marks an item `failed` with `error` (cleaned of control characters and cut to 8,000
/// characters). Returns false unless it is `processing` and held by `owner`.
pub fn fail(conn: &mut DbConn, item_id: i64, owner: &str, error: &str) -> Result<bool, QueueError> {
    let owner = check_owner(owner)?;
    let error = error_text(error);
    let t = now();
    retry(|| fail_in_tx(conn, item_id, owner, &error, t))
}

/// An error as stored in `last_error`: without control characters, at most 8,000 characters.
pub(crate) fn error_text(error: &str) -> String {
    clean_text(error).chars().take(MAX_ERROR_CHARS).collect()
}

/// The UPDATE of [`fail`], with the error already made by [`error_text`]; on its own or inside
/// a caller's transaction. True if the item was `processing` under `owner`.
pub(crate) fn fail_in_tx(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    error: &str,
    t: chrono::NaiveDateTime,
) -> Result<bool, QueueError> {
    let n = with_conn!(conn, |c| diesel::update(held(item_id, owner))
        .set((
            eq::status.eq(QueueStatus::Failed),
            eq::last_error.eq(Some(error)),
            eq::locked_until.eq(None::<chrono::NaiveDateTime>),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Hands an item back: `pending` again, unlocked, and the attempt it was claimed with not
/// counted (for items claimed but never started, e.g. at shutdown). Returns false unless it
/// is `processing` and held by `owner`.
pub fn release(conn: &mut DbConn, item_id: i64, owner: &str) -> Result<bool, QueueError> {
    Ok(release_many(conn, &[item_id], owner)? == 1)
}

/// [`release`] for several items in one statement; returns how many were released.
pub fn release_many(conn: &mut DbConn, item_ids: &[i64], owner: &str) -> Result<u64, QueueError> {
    let owner = check_owner(owner)?;
    if item_ids.is_empty() {
        return Ok(0);
    }
    let t = now();
    let n = retry(|| {
        Ok(with_conn!(conn, |c| diesel::update(
            eq::table
                .filter(eq::id.eq_any(item_ids))
                .filter(eq::status.eq(QueueStatus::Processing))
                .filter(eq::locked_by.eq(owner))
        )
        .set((
            eq::status.eq(QueueStatus::Pending),
            eq::locked_by.eq(None::<String>),
            eq::locked_until.eq(None::<chrono::NaiveDateTime>),
            // Claims counted it; a release is not a failed attempt. Never below zero.
            eq::attempts
                .eq(diesel::dsl::case_when(eq::attempts.gt(0), eq::attempts - 1).otherwise(0)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?)
    })?;
    Ok(n as u64)
}

/// Extends an item's lease to `now + lease`. Returns false unless it is `processing` and
/// held by `owner` (a false answer means the item was rescued: stop and do not complete it).
pub fn renew(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    lease: Duration,
) -> Result<bool, QueueError> {
    let owner = check_owner(owner)?;
    let t = now();
    let n = retry(|| {
        Ok(with_conn!(conn, |c| diesel::update(held(item_id, owner))
            .set((
                eq::locked_until.eq(Some(deadline(t, lease))),
                eq::updated_at.eq(t),
            ))
            .execute(c))?)
    })?;
    Ok(n == 1)
}

/// `event_queue` filtered to one item that is `processing` under an owner.
type Held<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Find<eq::table, i64>,
        diesel::dsl::Eq<eq::status, QueueStatus>,
    >,
    diesel::dsl::Eq<eq::locked_by, &'a str>,
>;

/// The item, if `processing` under `owner`.
fn held(item_id: i64, owner: &str) -> Held<'_> {
    eq::table
        .find(item_id)
        .filter(eq::status.eq(QueueStatus::Processing))
        .filter(eq::locked_by.eq(owner))
}
