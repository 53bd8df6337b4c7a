//! What a batch reads before applying the overflow policy: the per-service lock that
//! serialises concurrent dispatchers, a bounded pending count and the victim candidates.
//! (Which services take which events is the rules' business: [`crate::rules`].)

use core_models::schema::{event_queue as eq, service_event_configs as sec, services as sv};
use core_models::stmt::{padded, Cached};
use core_models::{with_conn, DbConn, Priority, QueueStatus};
use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::error::EngineError;

/// A service row read under the per-service dispatch lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockedService {
    pub id: i64,
    pub slug: String,
    pub max_queue_size: i32,
    pub is_active: bool,
}

/// A service as [`lock_services`] reads it: its id, slug, queue limit and whether it is
/// active (NULL for a service gone meanwhile).
type ServiceRow = (i64, Option<String>, Option<i32>, Option<bool>);

/// Takes the per-service dispatch lock until the transaction ends, then reads the services.
///
/// MySQL/MariaDB: `SELECT … FOR UPDATE` on the services' `service_event_configs` rows, in
/// primary-key order, not on the `services` rows: the crate docs' lock order says why. The
/// services are read by scalar subqueries of that same statement, one round trip for both:
/// a locking read does not lock what its subqueries read (InnoDB; a test holds the lock and
/// takes the service rows from another connection). A service whose rules are all gone is
/// left out, as there is nothing left to route it by. SQLite: `BEGIN IMMEDIATE` already
/// holds the database's write lock, which serialises every writer; the services are read.
pub(crate) fn lock_services(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<Vec<LockedService>, EngineError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = padded(ids);
    let rows: Vec<ServiceRow> = match conn {
        DbConn::Mysql(c) => {
            let of_rule = || sv::table.filter(sv::id.eq(sec::service_id));
            Cached::new(
                sec::table
                    .filter(sec::service_id.eq_any(&ids))
                    .order(sec::id.asc())
                    .select((
                        sec::service_id,
                        of_rule().select(sv::slug).single_value(),
                        of_rule().select(sv::max_queue_size).single_value(),
                        of_rule().select(sv::is_active).single_value(),
                    ))
                    .for_update(),
            )
            .load(c)?
        }
        DbConn::Sqlite(c) => Cached::new(sv::table.filter(sv::id.eq_any(&ids)).select((
            sv::id,
            sv::slug.nullable(),
            sv::max_queue_size.nullable(),
            sv::is_active.nullable(),
        )))
        .load(c)?,
    };
    // One row per rule on MySQL: each service once, in id order.
    let services: BTreeMap<i64, LockedService> = rows
        .into_iter()
        .filter_map(|(id, slug, max_queue_size, is_active)| {
            let service = LockedService {
                id,
                slug: slug?,
                max_queue_size: max_queue_size?,
                is_active: is_active?,
            };
            Some((id, service))
        })
        .collect();
    Ok(services.into_values().collect())
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
) -> Result<u64, EngineError> {
    let q = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM event_queue \
         WHERE service_id = ? AND status = 'pending' LIMIT ?) AS capped",
    )
    .bind::<BigInt, _>(service_id)
    .bind::<BigInt, _>(cap.max(0));
    let row: Count = with_conn!(conn, |c| Cached::new(q).get_result(c))?;
    Ok(u64::try_from(row.n).unwrap_or(0))
}

#[derive(QueryableByName)]
struct ServiceCount {
    #[diesel(sql_type = BigInt)]
    service_id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What a batch asks about one service's queue: its limit, and how many events the batch
/// brings it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueProbe {
    pub service_id: i64,
    /// The queue size limit, which is also what the count is capped at.
    pub cap: i64,
    /// The events this batch routes to the service.
    pub incoming: i64,
}

impl QueueProbe {
    /// The most items that may be pending for the whole batch to fit.
    fn room_bound(&self) -> i64 {
        self.cap.max(0).saturating_sub(self.incoming).max(0)
    }
}

/// [`pending_count`] of several services in one statement (one round trip for the whole
/// batch, not one per service), by service.
///
/// A queue with room for far more than it holds is not counted at all: the span of the
/// queue's ids (`MAX(id) - MIN(id) + 1`, two index look-ups) bounds how many rows the whole
/// table holds, so when that span plus the batch fits under a service's limit, the span is
/// returned in place of the count. It is an upper bound on the pending items, and small
/// enough that the policy finds room for every event, which is all the count decides. Without
/// it, a generous limit (say 10,000 on a busy queue) made every batch read every pending
/// entry. Each branch's `CASE` evaluates its count only when the span does not settle it.
pub(crate) fn pending_counts(
    conn: &mut DbConn,
    probes: &[QueueProbe],
) -> Result<HashMap<i64, u64>, EngineError> {
    if probes.is_empty() {
        return Ok(HashMap::new());
    }
    // A repeated last branch counts the same service again: harmless, and it keeps the
    // statement to a few shapes, so it can be kept prepared.
    let probes = padded(probes);
    let cast = match conn {
        DbConn::Mysql(_) => "SIGNED",
        DbConn::Sqlite(_) => "INTEGER",
    };
    // MIN and MAX in separate subqueries: SQLite reads one end of an index only for a query
    // with a single MIN or MAX.
    let branch = format!(
        "SELECT CAST(? AS {cast}) AS service_id, CASE WHEN span.n <= ? THEN span.n \
         ELSE (SELECT COUNT(*) FROM (SELECT 1 AS one FROM event_queue \
         WHERE service_id = ? AND status = 'pending' LIMIT ?) AS capped) END AS n \
         FROM (SELECT COALESCE((SELECT MAX(id) FROM event_queue) \
         - (SELECT MIN(id) FROM event_queue) + 1, 0) AS n) AS span"
    );
    let sql = vec![branch; probes.len()].join(" UNION ALL ");
    let rows: Vec<ServiceCount> = with_conn!(conn, |c| {
        let mut q = diesel::sql_query(&sql).into_boxed();
        for probe in &probes {
            q = q
                .bind::<BigInt, _>(probe.service_id)
                .bind::<BigInt, _>(probe.room_bound())
                .bind::<BigInt, _>(probe.service_id)
                .bind::<BigInt, _>(probe.cap.max(0));
        }
        Cached::new(q).load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|r| (r.service_id, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}

/// The `limit` lowest-priority, oldest pending discardable items of a service with a
/// priority below `below`: `(priority, id)`, victims first.
///
/// A plain read, on purpose (locking it would take index entries before rows; see the crate
/// docs' lock order): the victims are discarded by primary key with `status = 'pending'`
/// re-checked, and a victim claimed in between fails the batch with
/// [`EngineError::VictimTaken`], which is retried.
pub(crate) fn victim_candidates(
    conn: &mut DbConn,
    service_id: i64,
    below: Priority,
    limit: i64,
) -> Result<Vec<(Priority, i64)>, EngineError> {
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
