//! Rescue of items whose owner died: a `processing` item whose lease ran out goes back to
//! `pending` (its attempt stays counted: at-least-once, never lost), or, once it has used up
//! its attempts, becomes `failed` so a poison event cannot loop forever.

use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::{retry, EngineError};

/// Ids per `UPDATE … WHERE id IN (…)`.
const IN_CHUNK: usize = 1000;

/// What one rescue pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RescueReport {
    /// Items put back to `pending`.
    pub requeued: u64,
    /// Items marked `failed` because they had used `max_attempts` attempts.
    pub failed: u64,
}

/// Which expired items [`Engine::rescue_expired`](crate::Engine::rescue_expired) takes care of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RescueParams {
    /// Only this service's items (the one a worker owns); `None` rescues every service's.
    pub service_id: Option<i64>,
    /// Claims an item may have had: one claimed this many times or more becomes `failed`
    /// instead of `pending` (at least 1). The worker's `max_attempts` setting.
    pub max_attempts: i32,
}

/// One rescue pass in one transaction (see
/// [`Engine::rescue_expired`](crate::Engine::rescue_expired)).
pub(crate) fn rescue_expired(
    conn: &mut DbConn,
    params: RescueParams,
) -> Result<RescueReport, EngineError> {
    let RescueParams {
        service_id,
        max_attempts,
    } = params;
    let max_attempts = max_attempts.max(1);
    let message = format!(
        "lease expired before the item was completed, {max_attempts} times: gave up (the worker \
         died or hung each time)"
    );
    retry(|| {
        conn.transaction(|conn| {
            let t = now();
            // One service, or all of them as the full id range: the same statement shape
            // either way.
            let (lo, hi) = service_id.map_or((i64::MIN, i64::MAX), |id| (id, id));
            // Find the expired items with a plain read on the (status, locked_until) index,
            // then change them by primary key, re-checking the condition. Updating straight
            // through the secondary index would lock its entries before the rows, the opposite
            // order of a worker's completion (row first), and the two deadlock.
            let expired: Vec<(i64, i32)> = with_conn!(conn, |c| eq::table
                .filter(eq::status.eq(QueueStatus::Processing))
                .filter(eq::locked_until.le(t))
                .filter(eq::service_id.between(lo, hi))
                .select((eq::id, eq::attempts))
                .load(c))?;
            let (spent, retry_ids): (Vec<_>, Vec<_>) =
                expired.into_iter().partition(|(_, a)| *a >= max_attempts);
            let mut report = RescueReport::default();
            for chunk in spent.chunks(IN_CHUNK) {
                let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
                report.failed += with_conn!(conn, |c| diesel::update(
                    eq::table
                        .filter(eq::id.eq_any(&ids))
                        .filter(eq::status.eq(QueueStatus::Processing))
                        .filter(eq::locked_until.le(t))
                        .filter(eq::attempts.ge(max_attempts))
                )
                .set((
                    eq::status.eq(QueueStatus::Failed),
                    eq::last_error.eq(Some(&message)),
                    eq::locked_until.eq(None::<chrono::NaiveDateTime>),
                    eq::processed_at.eq(Some(t)),
                    eq::updated_at.eq(t),
                ))
                .execute(c))? as u64;
            }
            for chunk in retry_ids.chunks(IN_CHUNK) {
                let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
                report.requeued += with_conn!(conn, |c| diesel::update(
                    eq::table
                        .filter(eq::id.eq_any(&ids))
                        .filter(eq::status.eq(QueueStatus::Processing))
                        .filter(eq::locked_until.le(t))
                        .filter(eq::attempts.lt(max_attempts))
                )
                .set((
                    eq::status.eq(QueueStatus::Pending),
                    eq::locked_by.eq(None::<String>),
                    eq::locked_until.eq(None::<chrono::NaiveDateTime>),
                    eq::updated_at.eq(t),
                ))
                .execute(c))? as u64;
            }
            Ok(report)
        })
    })
}
