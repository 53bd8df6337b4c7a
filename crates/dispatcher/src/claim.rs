//! Claiming: record what a worker finished, then take the next pending items of a service in
//! priority then age order under an item lease, in one short transaction, and only while the
//! daemon holds the service lease.

use std::time::Duration;

use core_models::models::now;
use core_models::schema::{event_queue as eq, live_events as le, service_event_configs as sec};
use core_models::stmt::{padded, Cached};
use core_models::{with_conn, DbConn, LiveEvent, QueueItem, QueueStatus};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use events::Outcome;
use serde::Serialize;

use crate::error::{check_owner, retry, EngineError};
use crate::finish::{finish_in_tx, Finished, PreparedOutcomes};
use crate::time::deadline;

/// The claim's SELECT on MySQL/MariaDB: the service lease and the items, in one round trip.
/// Its first part locks the lease row (`FOR UPDATE`, waiting like any claimer: MariaDB has no
/// `FOR SHARE`) and returns one NULL when the daemon holds the lease; its second takes the
/// pending items under that same lease. A UNION ALL runs its parts in order, so the lease row
/// is locked first, as the lock order says. The second part's WHERE + ORDER BY are exactly
/// the index `idx_eq_claim (service_id, status, priority DESC, id)` (the lease row is a
/// constant), so it reads only the rows it returns (plus the ones other claimers hold, which
/// `SKIP LOCKED` passes by) and never sorts. Public so a test can `EXPLAIN` the very
/// statement that runs. Binds: service, owner, now, service, owner, now, service, limit.
///
/// `id` is the age: ids grow with commit order. On a Galera cluster too, where each node hands
/// out ids in its own residue class: a transaction begins only after its node has applied
/// every earlier commit (`wsrep_sync_wait`, see `core_models::db::GALERA_SYNC_WAIT`), and
/// InnoDB raises the counter past every id it applies (tested in `ctl/tests/galera.rs`).
pub const MYSQL_CLAIM_SQL: &str = "(SELECT NULL AS id FROM service_leases \
     WHERE service_id = ? AND owner = ? AND expires_at > ? FOR UPDATE) \
     UNION ALL \
     (SELECT q.id FROM service_leases l JOIN event_queue q ON q.service_id = l.service_id \
     WHERE l.service_id = ? AND l.owner = ? AND l.expires_at > ? \
     AND q.service_id = ? AND q.status = 'pending' \
     ORDER BY q.priority DESC, q.id ASC LIMIT ? FOR UPDATE SKIP LOCKED)";

/// The claim's SELECT on SQLite: the same parts, binds and index; the immediate transaction
/// holds the database's write lock, so no row locking is needed.
pub const SQLITE_CLAIM_SQL: &str = "SELECT NULL AS id FROM service_leases \
     WHERE service_id = ? AND owner = ? AND expires_at > ? \
     UNION ALL \
     SELECT id FROM (SELECT q.id FROM service_leases l \
     JOIN event_queue q ON q.service_id = l.service_id \
     WHERE l.service_id = ? AND l.owner = ? AND l.expires_at > ? \
     AND q.service_id = ? AND q.status = 'pending' \
     ORDER BY q.priority DESC, q.id ASC LIMIT ?)";

/// What [`Engine::claim`](crate::Engine::claim) is asked: "these are done, give me up to
/// `max` more".
#[derive(Debug, Clone, Copy)]
pub struct ClaimParams<'a> {
    /// The service whose queue is claimed.
    pub service_id: i64,
    /// Most items to claim; 0 records the outcomes and claims nothing.
    pub max: usize,
    /// The daemon that must hold an unexpired lease on the service (see
    /// [`Engine::acquire_service`](crate::Engine::acquire_service)).
    pub service_owner: &'a str,
    /// The worker the items are locked by (`locked_by`), and whose finished items
    /// `finished` reports; may be `service_owner` itself.
    pub owner: &'a str,
    /// How long the claimed items stay the worker's without
    /// [`Engine::renew_items`](crate::Engine::renew_items).
    pub lease: Duration,
    /// Outcomes of items `owner` finished, recorded first, whether or not the service lease
    /// is still held (they depend only on each item's own lock). May be empty.
    pub finished: &'a [(i64, Outcome)],
}

/// What [`Engine::claim`](crate::Engine::claim) did.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The outcomes recorded.
    pub finished: Finished,
    /// The items claimed, highest priority then oldest first; `None` when the service lease
    /// is not held (nothing was claimed: the daemon must stop working the service).
    pub items: Option<Vec<ClaimedItem>>,
}

/// A claimed queue item with the event it delivers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimedItem {
    /// The queue row, now `processing` under the claimer's lease.
    pub item: QueueItem,
    /// The event to process.
    pub event: LiveEvent,
    /// The action of the item's rule (`--action`), read at claim time: handed to the service.
    pub action: Option<String>,
}

#[derive(QueryableByName)]
struct LeaseOrItem {
    /// NULL for the lease row, the item's id otherwise.
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
}

/// Chooses the items under the service lease, records the outcomes, then takes the items, in
/// one transaction (see [`Engine::claim`](crate::Engine::claim)).
pub(crate) fn claim(conn: &mut DbConn, params: &ClaimParams<'_>) -> Result<Claimed, EngineError> {
    let service_owner = check_owner(params.service_owner)?;
    let owner = check_owner(params.owner)?;
    let limit = i64::try_from(params.max).unwrap_or(i64::MAX);
    let outcomes = PreparedOutcomes::new(params.finished);
    retry(|| {
        conn.transaction(|conn| {
            // The lease row first: one lock order for every claimer.
            let chosen = choose_in_tx(conn, params.service_id, service_owner, limit)?;
            let finished = finish_in_tx(conn, &outcomes, owner, now())?;
            let items = match chosen {
                Some(ids) => Some(take_in_tx(conn, &ids, owner, params.lease)?),
                None => None,
            };
            Ok(Claimed { finished, items })
        })
    })
}

/// The ids of up to `limit` pending items of the service, highest priority first, then
/// oldest, if `service_owner` holds an unexpired lease on it (`None` if not). On
/// MySQL/MariaDB the lease row and the items stay locked until the transaction ends: a
/// takeover waits for the claim instead of overlapping it, and concurrent claimers never take
/// the same item and never wait for each other.
fn choose_in_tx(
    conn: &mut DbConn,
    service_id: i64,
    service_owner: &str,
    limit: i64,
) -> Result<Option<Vec<i64>>, EngineError> {
    let sql = match conn {
        DbConn::Mysql(_) => MYSQL_CLAIM_SQL,
        DbConn::Sqlite(_) => SQLITE_CLAIM_SQL,
    };
    let t = now();
    let q = diesel::sql_query(sql)
        .bind::<BigInt, _>(service_id)
        .bind::<Text, _>(service_owner)
        .bind::<Timestamp, _>(t)
        .bind::<BigInt, _>(service_id)
        .bind::<Text, _>(service_owner)
        .bind::<Timestamp, _>(t)
        .bind::<BigInt, _>(service_id)
        .bind::<BigInt, _>(limit);
    let rows = with_conn!(conn, |c| Cached::new(q).load::<LeaseOrItem>(c))?;
    let held = rows.iter().any(|r| r.id.is_none());
    Ok(held.then(|| rows.iter().filter_map(|r| r.id).collect()))
}

/// Makes the chosen items `owner`'s inside the caller's transaction: each becomes
/// `processing` with `locked_by = owner`, `locked_until = now + lease` and one more attempt
/// (an UPDATE by primary key), and comes back with its event and its rule's action, highest
/// priority first, then oldest.
fn take_in_tx(
    conn: &mut DbConn,
    ids: &[i64],
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedItem>, EngineError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let t = now();
    let until = deadline(t, lease);
    // The ids are distinct, so repeating the last one to pad the list changes nothing.
    let ids = padded(ids);
    with_conn!(conn, |c| Cached::new(
        diesel::update(eq::table.filter(eq::id.eq_any(&ids))).set((
            eq::status.eq(QueueStatus::Processing),
            eq::locked_by.eq(Some(owner)),
            eq::locked_until.eq(Some(until)),
            eq::attempts.eq(eq::attempts + 1),
            eq::updated_at.eq(t),
        ))
    )
    .execute(c))?;
    // Each item with its event and the action of the rule it went under (none when the rule
    // has none or is gone), in one read: (service_id, name) is unique among the rules.
    let rows: Vec<(QueueItem, LiveEvent, Option<String>)> = with_conn!(conn, |c| Cached::new(
        eq::table
            .inner_join(le::table)
            .left_join(
                sec::table.on(sec::service_id
                    .eq(eq::service_id)
                    .and(sec::name.nullable().eq(eq::rule_name))),
            )
            .filter(eq::id.eq_any(&ids))
            .order((eq::priority.desc(), eq::id.asc()))
            .select((
                QueueItem::as_select(),
                LiveEvent::as_select(),
                sec::action.nullable(),
            ))
    )
    .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(item, event, action)| ClaimedItem {
            item,
            event,
            action,
        })
        .collect())
}
