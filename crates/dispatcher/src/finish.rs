//! Recording how items ended, many at once: a busy worker pays one round trip per batch of
//! outcomes (with its next claim, or alone) instead of one transaction per item.
//!
//! An outcome is recorded only for an item that is `processing` under the caller's name, so a
//! worker that lost an item (rescued, then claimed by someone else) cannot touch it.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, QueueStatus};
use diesel::prelude::*;
use events::Outcome;
use serde::Serialize;

use crate::error::{check_owner, retry, EngineError};
use crate::items::{complete_in_tx, error_text, fail_in_tx};

/// Most ids bound in one `IN (…)` list: far below every backend's limit on bound parameters.
const IN_CHUNK: usize = 500;

/// What recording outcomes did ([`Engine::finish`](crate::Engine::finish), and the first half
/// of [`Engine::claim`](crate::Engine::claim)).
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

/// Records outcomes in one transaction (see [`Engine::finish`](crate::Engine::finish)).
pub(crate) fn finish(
    conn: &mut DbConn,
    owner: &str,
    outcomes: &[(i64, Outcome)],
) -> Result<Finished, EngineError> {
    let owner = check_owner(owner)?;
    if outcomes.is_empty() {
        return Ok(Finished::default());
    }
    let outcomes = PreparedOutcomes::new(outcomes);
    retry(|| conn.transaction(|conn| finish_in_tx(conn, &outcomes, owner, now())))
}

/// Outcomes ready to write: completed ids (sorted, each once), and failed ids with their
/// stored error text. Made once, outside the (retried) transaction.
pub(crate) struct PreparedOutcomes {
    completed: Vec<i64>,
    failed: Vec<(i64, String)>,
}

impl PreparedOutcomes {
    /// Splits the outcomes and cleans the errors.
    pub(crate) fn new(outcomes: &[(i64, Outcome)]) -> PreparedOutcomes {
        let mut p = PreparedOutcomes {
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
}

/// Records the outcomes inside the caller's transaction: the completed ones in one UPDATE
/// per 500 ids, each failed one with its own error. Items not `processing` under `owner` are
/// left alone and listed in [`Finished::not_held`].
pub(crate) fn finish_in_tx(
    conn: &mut DbConn,
    outcomes: &PreparedOutcomes,
    owner: &str,
    t: NaiveDateTime,
) -> Result<Finished, EngineError> {
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
