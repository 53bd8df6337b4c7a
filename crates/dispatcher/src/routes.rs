//! What the batch reads before applying the policy: which services take which event types,
//! the per-service lock that serialises concurrent dispatchers, a bounded pending count and
//! the victim candidates.

use core_models::schema::{event_queue as eq, service_event_configs as sec, services as sv};
use core_models::{with_conn, DbConn, EventType, QueueStatus};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::error::DispatchError;

/// How one event type goes to one active service (its enabled config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub service_id: i64,
    pub event_type: EventType,
    pub priority: i32,
    pub is_async: bool,
    pub is_discardable: bool,
}

/// A service row read under the per-service dispatch lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockedService {
    pub id: i64,
    pub slug: String,
    pub max_queue_size: i32,
    pub is_active: bool,
}

/// Enabled configs of active services for these event types, in one query, by service id.
pub(crate) fn load(conn: &mut DbConn, types: &[EventType]) -> Result<Vec<Route>, DispatchError> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, EventType, i32, bool, bool)> = with_conn!(conn, |c| sec::table
        .inner_join(sv::table)
        .filter(sv::is_active.eq(true))
        .filter(sec::is_enabled.eq(true))
        .filter(sec::event_type.eq_any(types))
        .order((sec::service_id.asc(), sec::event_type.asc()))
        .select((
            sec::service_id,
            sec::event_type,
            sec::priority,
            sec::is_async,
            sec::is_discardable,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(
            |(service_id, event_type, priority, is_async, is_discardable)| Route {
                service_id,
                event_type,
                priority,
                is_async,
                is_discardable,
            },
        )
        .collect())
}

/// Serialises dispatchers per service until the transaction ends, then reads the services.
///
/// MySQL/MariaDB: `SELECT … FOR UPDATE` on the services' `service_event_configs` rows, not on
/// the `services` rows. Every change of an `event_queue` row's status rewrites its entry in the
/// index that also serves the foreign key to `services`, so InnoDB takes a shared lock on the
/// parent `services` row for each claim, completion or rescue: an exclusive lock there would
/// stall every worker of the service behind each dispatch batch and deadlock with them (seen:
/// a completion holding its index entry waited for the service row while the dispatcher,
/// holding the service row, waited for that entry). Nothing references the config rows, and
/// every dispatcher of a service locks all of them in one scan order, so dispatchers of one
/// service queue behind each other and never deadlock among themselves.
///
/// SQLite: `BEGIN IMMEDIATE` already holds the database's write lock, which serialises every
/// writer.
pub(crate) fn lock_services(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<Vec<LockedService>, DispatchError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if let DbConn::Mysql(c) = conn {
        let _locked: Vec<i64> = sec::table
            .filter(sec::service_id.eq_any(ids))
            .order(sec::id.asc())
            .select(sec::id)
            .for_update()
            .load(c)?;
    }
    let rows: Vec<(i64, String, i32, bool)> = with_conn!(conn, |c| sv::table
        .filter(sv::id.eq_any(ids))
        .order(sv::id.asc())
        .select((sv::id, sv::slug, sv::max_queue_size, sv::is_active))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, slug, max_queue_size, is_active)| LockedService {
            id,
            slug,
            max_queue_size,
            is_active,
        })
        .collect())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Pending items of a service, counted up to `cap` only: the count reads at most `cap` entries
/// of the claim index (service_id, status, …) instead of the whole queue, so its cost does not
/// grow with an overflowing queue. Only "below the limit or not" matters to the policy.
pub(crate) fn pending_count(
    conn: &mut DbConn,
    service_id: i64,
    cap: i64,
) -> Result<u64, DispatchError> {
    let q = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM event_queue \
         WHERE service_id = ? AND status = 'pending' LIMIT ?) AS capped",
    )
    .bind::<BigInt, _>(service_id)
    .bind::<BigInt, _>(cap.max(0));
    let row: Count = with_conn!(conn, |c| q.clone().get_result(c))?;
    Ok(u64::try_from(row.n).unwrap_or(0))
}

/// The `limit` lowest-priority, oldest pending discardable items of a service with a
/// priority below `below`: `(priority, id)`, victims first.
///
/// A plain read, on purpose: locking them here (`FOR UPDATE`) would lock index entries before
/// rows, whatever index the optimiser picks, while a worker's claim locks rows before changing
/// their index entries — the two deadlocked. The victims are instead discarded by primary key
/// with `status = 'pending'` re-checked, and a victim claimed in between fails the batch with
/// [`DispatchError::VictimTaken`], which is retried.
pub(crate) fn victim_candidates(
    conn: &mut DbConn,
    service_id: i64,
    below: i32,
    limit: i64,
) -> Result<Vec<(i32, i64)>, DispatchError> {
    Ok(with_conn!(conn, |c| eq::table
        .filter(eq::service_id.eq(service_id))
        .filter(eq::status.eq(QueueStatus::Pending))
        .filter(eq::priority.lt(below))
        .filter(eq::is_discardable.eq(true))
        .order((eq::priority.asc(), eq::id.asc()))
        .limit(limit)
        .select((eq::priority, eq::id))
        .load(c))?)
}
