//! What a worker does to items it claimed besides finishing them: hand them back or extend
//! their lease; and the two UPDATEs that finish one. Every change requires the item to be
//! `processing` under the caller's name, so a worker that lost its lease (rescued and claimed
//! by someone else) cannot touch it.

use std::time::Duration;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::stmt::{padded, Cached};
use core_models::text::clean_text;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;

use crate::error::{check_owner, retry, EngineError};
use crate::time::deadline;

/// Longest `last_error` kept, in characters (the column is a TEXT: 64 KiB on MySQL).
const MAX_ERROR_CHARS: usize = 8_000;
/// Ids per `UPDATE … WHERE id IN (…)`.
const IN_CHUNK: usize = 500;

/// Marks the items of `item_ids` (at most a few hundred) that are `processing` under `owner`
/// completed at `t`, inside the caller's transaction; returns how many it changed.
pub(crate) fn complete_in_tx(
    conn: &mut DbConn,
    item_ids: &[i64],
    owner: &str,
    t: NaiveDateTime,
) -> Result<u64, EngineError> {
    let ids = padded(item_ids);
    let n = with_conn!(conn, |c| Cached::new(
        diesel::update(
            eq::table
                .filter(eq::id.eq_any(&ids))
                .filter(eq::status.eq(QueueStatus::Processing))
                .filter(eq::locked_by.eq(owner))
        )
        .set((
            eq::status.eq(QueueStatus::Completed),
            eq::locked_until.eq(None::<NaiveDateTime>),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
    )
    .execute(c))?;
    Ok(n as u64)
}

/// An error as stored in `last_error`: without control characters, at most 8,000 characters.
pub(crate) fn error_text(error: &str) -> String {
    clean_text(error).chars().take(MAX_ERROR_CHARS).collect()
}

/// Marks an item `failed` with `error` (already made by [`error_text`]) inside the caller's
/// transaction. True if the item was `processing` under `owner`.
pub(crate) fn fail_in_tx(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    error: &str,
    t: NaiveDateTime,
) -> Result<bool, EngineError> {
    let n = with_conn!(conn, |c| diesel::update(
        eq::table
            .find(item_id)
            .filter(eq::status.eq(QueueStatus::Processing))
            .filter(eq::locked_by.eq(owner))
    )
    .set((
        eq::status.eq(QueueStatus::Failed),
        eq::last_error.eq(Some(error)),
        eq::locked_until.eq(None::<NaiveDateTime>),
        eq::processed_at.eq(Some(t)),
        eq::updated_at.eq(t),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Hands items back (see [`Engine::release_items`](crate::Engine::release_items)) in one
/// statement; returns how many were released.
pub(crate) fn release(
    conn: &mut DbConn,
    owner: &str,
    item_ids: &[i64],
) -> Result<u64, EngineError> {
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
            eq::locked_until.eq(None::<NaiveDateTime>),
            // Claims counted it; a release is not a failed attempt. Never below zero.
            eq::attempts
                .eq(diesel::dsl::case_when(eq::attempts.gt(0), eq::attempts - 1).otherwise(0)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?)
    })?;
    Ok(n as u64)
}

/// Extends items' leases (see [`Engine::renew_items`](crate::Engine::renew_items)); returns
/// how many were renewed.
pub(crate) fn renew(
    conn: &mut DbConn,
    owner: &str,
    item_ids: &[i64],
    lease: Duration,
) -> Result<u64, EngineError> {
    let owner = check_owner(owner)?;
    let t = now();
    let until = deadline(t, lease);
    retry(|| {
        let mut renewed = 0;
        for chunk in item_ids.chunks(IN_CHUNK) {
            renewed += with_conn!(conn, |c| diesel::update(
                eq::table
                    .filter(eq::id.eq_any(chunk))
                    .filter(eq::status.eq(QueueStatus::Processing))
                    .filter(eq::locked_by.eq(owner))
            )
            .set((eq::locked_until.eq(Some(until)), eq::updated_at.eq(t)))
            .execute(c))? as u64;
        }
        Ok(renewed)
    })
}
