//! Retention: finished rows leave the hot queue table in small batches, so claims and
//! counts stay fast over a long deployment.

use std::time::Duration;

use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;

use crate::error::{retry, EngineError};
use crate::time::before;

/// Which finished rows [`Engine::prune`](crate::Engine::prune) deletes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneParams {
    /// Rows last changed more than this long ago.
    pub older_than: Duration,
    /// Rows per delete, each its own short transaction (at least 1).
    pub batch_size: usize,
}

/// Deletes old finished rows in batches (see [`Engine::prune`](crate::Engine::prune)).
pub(crate) fn prune(conn: &mut DbConn, params: PruneParams) -> Result<u64, EngineError> {
    let PruneParams {
        older_than,
        batch_size,
    } = params;
    let cutoff = before(now(), older_than);
    let limit = i64::try_from(batch_size.max(1)).unwrap_or(i64::MAX);
    let mut total = 0u64;
    for status in [QueueStatus::Completed, QueueStatus::Discarded] {
        loop {
            // (rows found, rows deleted): the loop ends on a short find, not a short delete,
            // so a row deleted meanwhile by another pruner does not end the run early.
            let (found, deleted) = retry(|| {
                conn.transaction(|conn| {
                    let ids: Vec<i64> = with_conn!(conn, |c| eq::table
                        .filter(eq::status.eq(status))
                        .filter(eq::updated_at.lt(cutoff))
                        .select(eq::id)
                        .limit(limit)
                        .load(c))?;
                    if ids.is_empty() {
                        return Ok((0, 0));
                    }
                    let n = with_conn!(conn, |c| diesel::delete(
                        eq::table
                            .filter(eq::id.eq_any(&ids))
                            .filter(eq::status.eq(status))
                    )
                    .execute(c))?;
                    Ok((ids.len(), n as u64))
                })
            })?;
            total += deleted;
            if (found as u64) < limit as u64 {
                break;
            }
        }
    }
    Ok(total)
}
