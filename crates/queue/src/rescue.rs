//! Rescue of items whose owner died: a `processing` item whose lease ran out goes back to
//! `pending` (its attempt stays counted: at-least-once, never lost), or, once it has used up
//! its attempts, becomes `failed` so a poison event cannot loop forever.

use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::{retry, QueueError};

/// What one rescue pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RescueReport {
    /// Items put back to `pending`.
    pub requeued: u64,
    /// Items marked `failed` because they had used `max_attempts` attempts.
    pub failed: u64,
}

/// Returns every `processing` item whose lease ended (`locked_until <= now`) to `pending`, or
/// marks it `failed` (with `last_error`) when it was claimed `max_attempts` times or more.
/// `service_id` limits the pass to one service (the one a worker owns); `None` rescues all.
///
/// Both updates run in one transaction and are served by the (status, locked_until) index.
/// Safe to run from any number of daemons at once: an item is moved once.
pub fn rescue_expired(
    conn: &mut DbConn,
    service_id: Option<i64>,
    max_attempts: i32,
) -> Result<RescueReport, QueueError> {
    let max_attempts = max_attempts.max(1);
    let message = format!(
        "lease expired before the item was completed, {max_attempts} times: gave up (the worker \
         died or hung each time)"
    );
    retry(|| {
        conn.transaction(|conn| {
            let t = now();
            // One service, or all of them as the full id range: the same statement shape
            // either way (boxed queries cannot be update targets).
            let (lo, hi) = service_id.map_or((i64::MIN, i64::MAX), |id| (id, id));
            let expired = || {
                eq::table
                    .filter(eq::status.eq(QueueStatus::Processing))
                    .filter(eq::locked_until.le(t))
                    .filter(eq::service_id.between(lo, hi))
            };
            let failed = with_conn!(conn, |c| diesel::update(
                expired().filter(eq::attempts.ge(max_attempts))
            )
            .set((
                eq::status.eq(QueueStatus::Failed),
                eq::last_error.eq(Some(&message)),
                eq::locked_until.eq(None::<chrono::NaiveDateTime>),
                eq::processed_at.eq(Some(t)),
                eq::updated_at.eq(t),
            ))
            .execute(c))?;
            let requeued = with_conn!(conn, |c| diesel::update(expired())
                .set((
                    eq::status.eq(QueueStatus::Pending),
                    eq::locked_by.eq(None::<String>),
                    eq::locked_until.eq(None::<chrono::NaiveDateTime>),
                    eq::updated_at.eq(t),
                ))
                .execute(c))?;
            Ok(RescueReport {
                requeued: requeued as u64,
                failed: failed as u64,
            })
        })
    })
}
