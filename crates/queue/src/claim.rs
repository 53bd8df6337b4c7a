//! Claiming: the next pending items of a service, in priority then age order, taken under a
//! lease in one short transaction.

use std::time::Duration;

use core_models::models::now;
use core_models::schema::{event_queue as eq, live_events as le, service_leases as sl};
use core_models::{with_conn, DbConn, LiveEvent, QueueItem, QueueStatus};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use crate::error::{check_owner, retry, QueueError};
use crate::time::deadline;

/// The claim's SELECT on MySQL/MariaDB. Its WHERE + ORDER BY are exactly the index
/// `idx_eq_claim (service_id, status, priority DESC, id)`, so it reads only the rows it
/// returns (plus the ones other claimers hold, which `SKIP LOCKED` passes by) and never sorts.
/// Public so a test can `EXPLAIN` the very statement that runs.
pub const MYSQL_CLAIM_SQL: &str = "SELECT id FROM event_queue \
     WHERE service_id = ? AND status = 'pending' \
     ORDER BY priority DESC, id ASC LIMIT ? FOR UPDATE SKIP LOCKED";

/// The claim's SELECT on SQLite: the same order and index; the immediate transaction holds the
/// database's write lock, so no row locking is needed.
pub const SQLITE_CLAIM_SQL: &str = "SELECT id FROM event_queue \
     WHERE service_id = ? AND status = 'pending' \
     ORDER BY priority DESC, id ASC LIMIT ?";

/// A claimed queue item with the event it delivers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimedItem {
    /// The queue row, now `processing` under the claimer's lease.
    pub item: QueueItem,
    /// The event to process.
    pub event: LiveEvent,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Claims up to `max_n` pending items of a service for `owner`: highest priority first, then
/// oldest; each becomes `processing` with `locked_by = owner`, `locked_until = now + lease`
/// and one more attempt. Returns them in that order, with their events; empty when nothing is
/// pending.
///
/// MySQL/MariaDB: `SELECT … FOR UPDATE SKIP LOCKED` then an UPDATE, in one short transaction,
/// so concurrent claimers never take the same item and never wait for each other. SQLite: an
/// immediate transaction. Deadlocks and lock-wait timeouts are retried.
///
/// The owner must keep the lease alive with [`renew`](crate::renew) while an item runs longer
/// than the lease; an item whose lease ran out goes back to `pending` at the next
/// [`rescue_expired`](crate::rescue_expired).
pub fn claim(
    conn: &mut DbConn,
    service_id: i64,
    max_n: usize,
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedItem>, QueueError> {
    let owner = check_owner(owner)?;
    if max_n == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(max_n).unwrap_or(i64::MAX);
    retry(|| conn.transaction(|conn| claim_in_tx(conn, service_id, limit, owner, lease)))
}

/// [`claim`], but only while `service_owner` holds an unexpired lease on the service (see
/// [`acquire_service`](crate::acquire_service)): returns `None`, claiming nothing, once the
/// lease is lost. The check and the claim are one transaction, and on MySQL/MariaDB the lease
/// row is locked until it commits (`FOR UPDATE`: MariaDB has no `FOR SHARE`), so a takeover
/// waits for the claim instead of overlapping it. `service_owner` (the daemon) and `owner`
/// (the worker, in `locked_by`) may differ.
pub fn claim_if_owner(
    conn: &mut DbConn,
    service_id: i64,
    max_n: usize,
    service_owner: &str,
    owner: &str,
    lease: Duration,
) -> Result<Option<Vec<ClaimedItem>>, QueueError> {
    let service_owner = check_owner(service_owner)?;
    let owner = check_owner(owner)?;
    let limit = i64::try_from(max_n).unwrap_or(i64::MAX);
    retry(|| {
        conn.transaction(|conn| {
            if !holds_service_in_tx(conn, service_id, service_owner)? {
                return Ok(None);
            }
            if limit == 0 {
                return Ok(Some(Vec::new()));
            }
            claim_in_tx(conn, service_id, limit, owner, lease).map(Some)
        })
    })
}

/// True while `service_owner` holds an unexpired lease on the service. Inside a transaction:
/// on MySQL/MariaDB the lease row stays locked (`FOR UPDATE`) until it ends, so a takeover
/// cannot overlap what the transaction does next.
pub(crate) fn holds_service_in_tx(
    conn: &mut DbConn,
    service_id: i64,
    service_owner: &str,
) -> Result<bool, QueueError> {
    let q = sl::table
        .filter(sl::service_id.eq(service_id))
        .filter(sl::owner.eq(service_owner))
        .filter(sl::expires_at.gt(now()))
        .select(sl::service_id);
    let held: Option<i64> = match conn {
        DbConn::Mysql(c) => q.for_update().first(c).optional()?,
        DbConn::Sqlite(c) => q.first(c).optional()?,
    };
    Ok(held.is_some())
}

/// Claims inside the caller's transaction (see [`claim`]).
pub(crate) fn claim_in_tx(
    conn: &mut DbConn,
    service_id: i64,
    limit: i64,
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedItem>, QueueError> {
    let sql = match conn {
        DbConn::Mysql(_) => MYSQL_CLAIM_SQL,
        DbConn::Sqlite(_) => SQLITE_CLAIM_SQL,
    };
    let q = diesel::sql_query(sql)
        .bind::<BigInt, _>(service_id)
        .bind::<BigInt, _>(limit);
    let ids: Vec<i64> = with_conn!(conn, |c| q.clone().load::<Id>(c))?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let t = now();
    let until = deadline(t, lease);
    with_conn!(conn, |c| diesel::update(
        eq::table.filter(eq::id.eq_any(&ids))
    )
    .set((
        eq::status.eq(QueueStatus::Processing),
        eq::locked_by.eq(Some(owner)),
        eq::locked_until.eq(Some(until)),
        eq::attempts.eq(eq::attempts + 1),
        eq::updated_at.eq(t),
    ))
    .execute(c))?;
    let rows: Vec<(QueueItem, LiveEvent)> = with_conn!(conn, |c| eq::table
        .inner_join(le::table)
        .filter(eq::id.eq_any(&ids))
        .order((eq::priority.desc(), eq::id.asc()))
        .select((QueueItem::as_select(), LiveEvent::as_select()))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(item, event)| ClaimedItem { item, event })
        .collect())
}
