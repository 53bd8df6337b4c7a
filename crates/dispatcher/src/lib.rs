//! Routing of captured LIVE events into the priority queues of subscribed services
//! (DESIGN §5, enqueue side).
//!
//! [`dispatch`] stores a batch of [`CapturedEvent`]s (one webcast frame, typically) and their
//! queue rows for every active service with an enabled config for each event's type, in one
//! transaction, applying the overflow policy:
//!
//! 1. below `max_queue_size` pending items: enqueue;
//! 2. full: discard the lowest-priority, oldest pending discardable item whose priority is
//!    strictly below the new event's, and enqueue;
//! 3. full, no such item, new event discardable: record it as a `discarded` row;
//! 4. full, no such item, new event not discardable: enqueue anyway and count an overflow.
//!
//! Concurrent dispatchers into one service are serialised by a per-service lock (on MySQL, the
//! service's config rows: see `routes::lock_services` for why not the service row), so a queue
//! never passes its limit by a race; deadlocks and lock-wait timeouts are retried.

mod batch;
mod enqueue;
mod error;
mod overflow;
mod report;
mod routes;
pub mod workload;

use core_models::models::now;
use core_models::{CapturedEvent, DbConn};

pub use batch::SessionContext;
pub use error::DispatchError;
pub use report::{DispatchReport, ServiceReport};

/// Pending items of a service, counted only up to `cap` (at most `cap` entries of the claim
/// index are read, however long the queue is): what dispatch uses to know whether a queue is
/// full, and what statistics should use where "more than N" is enough.
pub fn pending_at_most(conn: &mut DbConn, service_id: i64, cap: u64) -> Result<u64, DispatchError> {
    routes::pending_count(conn, service_id, i64::try_from(cap).unwrap_or(i64::MAX))
}

/// Stores `events` (in order) as `live_events` rows of the session and enqueues them for every
/// subscribed service, in one transaction; returns what happened per service.
///
/// Events whose (room_id, msg_id) is already stored, or repeated earlier in the batch, are
/// skipped: neither stored nor dispatched again. Nothing is stored if it fails. Deadlocks
/// (1213), lock-wait timeouts (1205) and a concurrent insert of the same message are retried
/// transparently with a short backoff.
///
/// The capture session's `total_events` is not touched: add `report.stored` with
/// `core_models::sessions::add_events`.
pub fn dispatch(
    conn: &mut DbConn,
    ctx: &SessionContext,
    events: &[CapturedEvent],
) -> Result<DispatchReport, DispatchError> {
    if events.is_empty() {
        return Ok(DispatchReport::default());
    }
    let t = now();
    let rows = batch::prepare(ctx, events, t);
    error::retry(|| conn.transaction(|conn| enqueue::run(conn, &rows, t)))
}
