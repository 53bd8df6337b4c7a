//! Recording many outcomes at once, optionally with the next claim in the same transaction:
//! a busy worker pays one round trip per batch instead of one transaction per item.
//!
//! The rules are those of [`complete`](crate::complete) and [`fail`](crate::fail): an outcome
//! is recorded only for an item that is `processing` under the caller's name, so a worker that
//! lost an item (rescued, then claimed by someone else) cannot touch it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::claim::{claim_in_tx, holds_service_in_tx, ClaimedItem};
use crate::error::{check_owner, retry, QueueError};
use crate::item::{complete_in_tx, error_text, fail_in_tx};

/// Most ids bound in one `IN (…)` list: far below every backend's limit on bound parameters.
const IN_CHUNK: usize = 500;

/// How a worker's run of an item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed successfully: the item becomes `completed`.
    Completed,
    /// Processing failed with this error: the item becomes `failed` with it as `last_error`
    /// (cleaned and cut as [`fail`](crate::fail) does).
    Failed(String),
}

/// What [`finish_many`] recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Finished {
    /// Items now `completed`.
    pub completed: u64,
    /// Items now `failed`.
    pub failed: u64,
    /// Items whose outcome was not recorded because they were not `processing` under the
    /// owner (taken over by another worker after their lease ran out, released, or finished
    /// by an earlier call). Ascending.
    pub not_held: Vec<i64>,
}

impl Finished {
    /// Outcomes recorded.
    pub fn recorded(&self) -> u64 {
        self.completed + self.failed
    }
}

/// What [`finish_and_claim_if_owner`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedAndClaimed {
    /// The outcomes recorded.
    pub finished: Finished,
    /// The items claimed, or `None` when the service lease is no longer held (nothing was
    /// claimed; the outcomes were recorded all the same).
    pub claimed: Option<Vec<ClaimedItem>>,
}

/// Records the outcomes of items `owner` processed, all in one transaction: the completed ones
/// in one UPDATE per 500 ids, each failed one with its own error. Items not `processing` under
/// `owner` are left alone and listed in [`Finished::not_held`]. An id given twice as completed
/// counts once.
///
/// Deadlocks and lock-wait timeouts are retried (the whole transaction runs again).
pub fn finish_many(
    conn: &mut DbConn,
    outcomes: &[(i64, Outcome)],
    owner: &str,
) -> Result<Finished, QueueError> {
    let owner = check_owner(owner)?;
    if outcomes.is_empty() {
        return Ok(Finished::default());
    }
    let outcomes = prepared(outcomes);
    retry(|| conn.transaction(|conn| finish_in_tx(conn, &outcomes, owner, now())))
}

/// [`finish_many`] then [`claim_if_owner`](crate::claim_if_owner), in one transaction: "these
/// are done, give me up to `max_n` more". The outcomes are recorded whether or not the service
/// lease is still held (they depend only on the items' own locks, as with
/// [`complete`](crate::complete)); the claim happens only while `service_owner` holds an
/// unexpired lease on the service, which on MySQL/MariaDB stays locked until the commit.
#[allow(clippy::too_many_arguments)] // the claim's own arguments plus the outcomes
pub fn finish_and_claim_if_owner(
    conn: &mut DbConn,
    outcomes: &[(i64, Outcome)],
    service_id: i64,
    max_n: usize,
    service_owner: &str,
    owner: &str,
    lease: Duration,
) -> Result<FinishedAndClaimed, QueueError> {
    let service_owner = check_owner(service_owner)?;
    let owner = check_owner(owner)?;
    let limit = i64::try_from(max_n).unwrap_or(i64::MAX);
    let outcomes = prepared(outcomes);
    retry(|| {
        conn.transaction(|conn| {
            // The lease row first, as `claim_if_owner` does: one lock order for every claimer.
            let held = holds_service_in_tx(conn, service_id, service_owner)?;
            let finished = finish_in_tx(conn, &outcomes, owner, now())?;
            let claimed = match (held, limit) {
                (false, _) => None,
                (true, 0) => Some(Vec::new()),
                (true, limit) => Some(claim_in_tx(conn, service_id, limit, owner, lease)?),
            };
            Ok(FinishedAndClaimed { finished, claimed })
        })
    })
}

/// Outcomes ready to write: completed ids, and failed ids with their stored error text.
struct Prepared {
    completed: Vec<i64>,
    failed: Vec<(i64, String)>,
}

/// Splits the outcomes and cleans the errors once, outside the (retried) transaction.
fn prepared(outcomes: &[(i64, Outcome)]) -> Prepared {
    let mut p = Prepared {
        completed: Vec::new(),
        failed: Vec::new(),
    };
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Completed => p.completed.push(*id),
            Outcome::Failed(e) => p.failed.push((*id, error_text(e))),
        }
    }
    p.completed.sort_unstable();
    p.completed.dedup();
    p
}

fn finish_in_tx(
    conn: &mut DbConn,
    outcomes: &Prepared,
    owner: &str,
    t: NaiveDateTime,
) -> Result<Finished, QueueError> {
    let mut finished = Finished::default();
    for ids in outcomes.completed.chunks(IN_CHUNK) {
        let n = complete_in_tx(conn, ids, owner, t)?;
        finished.completed += n;
        if n < ids.len() as u64 {
            // Rare (a takeover): find which ones this UPDATE did not finish. MariaDB has no
            // UPDATE … RETURNING, but the rows it wrote carry this call's exact timestamp.
            let done: HashSet<i64> = with_conn!(conn, |c| eq::table
                .filter(eq::id.eq_any(ids))
                .filter(eq::status.eq(QueueStatus::Completed))
                .filter(eq::locked_by.eq(owner))
                .filter(eq::processed_at.eq(t))
                .select(eq::id)
                .load::<i64>(c))?
            .into_iter()
            .collect();
            finished
                .not_held
                .extend(ids.iter().filter(|id| !done.contains(id)));
        }
    }
    // Failures are rare and each carries its own error: one UPDATE each.
    for (id, error) in &outcomes.failed {
        if fail_in_tx(conn, *id, owner, error, t)? {
            finished.failed += 1;
        } else {
            finished.not_held.push(*id);
        }
    }
    finished.not_held.sort_unstable();
    Ok(finished)
}
