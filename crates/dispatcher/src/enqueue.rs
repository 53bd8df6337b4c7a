//! One batch inside its transaction: store the events, then build every queue row with the
//! overflow policy and write them with multi-row statements.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, EventType, QueueStatus};
use diesel::prelude::*;

use crate::batch::{self, NewLiveEvent};
use crate::error::DispatchError;
use crate::overflow::{Candidate, Decision, QueueState};
use crate::report::{DispatchReport, ServiceReport};
use crate::routes::{self, Route};

/// Rows per multi-row INSERT into `event_queue` (11 columns).
const INSERT_CHUNK: usize = 1000;
/// Ids per `UPDATE … WHERE id IN (…)`.
const IN_CHUNK: usize = 1000;

/// An `event_queue` row to insert; priority, is_async and is_discardable are copied from the
/// config at enqueue time.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = eq, treat_none_as_default_value = false)]
struct NewQueueRow {
    service_id: i64,
    live_event_id: i64,
    session_id: i64,
    status: QueueStatus,
    priority: i32,
    is_async: bool,
    is_discardable: bool,
    attempts: i32,
    processed_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Stores the batch and enqueues it; runs inside the batch's transaction (and again on retry).
pub(crate) fn run(
    conn: &mut DbConn,
    rows: &[NewLiveEvent],
    t: NaiveDateTime,
) -> Result<DispatchReport, DispatchError> {
    let event_ids = batch::store(conn, rows)?;
    let stored: Vec<(usize, i64)> = event_ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((i, (*id)?)))
        .collect();
    let mut report = DispatchReport {
        stored: stored.len() as u64,
        duplicates: (rows.len() - stored.len()) as u64,
        event_ids,
        services: BTreeMap::new(),
    };

    let mut types: Vec<EventType> = stored.iter().map(|&(i, _)| rows[i].event_type).collect();
    types.sort();
    types.dedup();
    let all_routes = routes::load(conn, &types)?;
    let mut by_service: BTreeMap<i64, Vec<Route>> = BTreeMap::new();
    for r in all_routes {
        by_service.entry(r.service_id).or_default().push(r);
    }
    let ids: Vec<i64> = by_service.keys().copied().collect();
    let services = routes::lock_services(conn, &ids)?;

    let mut queue_rows: Vec<NewQueueRow> = Vec::new();
    let mut stored_victims: Vec<i64> = Vec::new();
    for service in services.iter().filter(|s| s.is_active) {
        let Some(service_routes) = by_service.get(&service.id) else {
            continue;
        };
        let route_of = |ty: EventType| service_routes.iter().find(|r| r.event_type == ty);
        // This service's events, in batch order.
        let events: Vec<(i64, &NewLiveEvent, &Route)> = stored
            .iter()
            .filter_map(|&(i, id)| Some((id, &rows[i], route_of(rows[i].event_type)?)))
            .collect();
        if events.is_empty() {
            continue;
        }
        let max = i64::from(service.max_queue_size.max(0));
        let pending = routes::pending_count(conn, service.id, max)?;
        let n = events.len() as u64;
        // Victims are needed only if the batch can fill the queue; a batch of n events takes
        // at most n of them, lowest first, so the n lowest candidates are enough.
        let candidates = if pending + n > max as u64 {
            let top = events.iter().map(|e| e.2.priority).max().unwrap_or(0);
            routes::victim_candidates(conn, service.id, top, n as i64)?
        } else {
            Vec::new()
        };
        let mut state = QueueState::new(max as u64, pending, candidates);
        let mut sr = ServiceReport {
            slug: service.slug.clone(),
            ..ServiceReport::default()
        };
        for (event_id, ev, route) in events {
            let index = queue_rows.len();
            let decision = state.decide(index, route.priority, route.is_discardable);
            let mut status = QueueStatus::Pending;
            match decision {
                Decision::Enqueue => sr.enqueued += 1,
                Decision::Replace(victim) => {
                    sr.enqueued += 1;
                    sr.discarded_victim += 1;
                    match victim {
                        Candidate::Stored(id) => stored_victims.push(id),
                        Candidate::New(i) => {
                            if let Some(row) = queue_rows.get_mut(i) {
                                row.status = QueueStatus::Discarded;
                                row.processed_at = Some(t);
                            }
                        }
                    }
                }
                Decision::DiscardNew => {
                    sr.discarded_new += 1;
                    status = QueueStatus::Discarded;
                }
                Decision::Overflow => {
                    sr.enqueued += 1;
                    sr.overflow += 1;
                }
            }
            queue_rows.push(NewQueueRow {
                service_id: service.id,
                live_event_id: event_id,
                session_id: ev.session_id,
                status,
                priority: route.priority,
                is_async: route.is_async,
                is_discardable: route.is_discardable,
                attempts: 0,
                processed_at: (status == QueueStatus::Discarded).then_some(t),
                created_at: t,
                updated_at: t,
            });
        }
        if sr.overflow > 0 {
            // Debug, not warn: during a burst this is every frame; the report carries the
            // counts for the capture daemon to print.
            tracing::debug!(
                service = %service.slug,
                overflow = sr.overflow,
                "queue over its limit: non-discardable events enqueued anyway"
            );
        }
        report.services.insert(service.id, sr);
    }

    for chunk in stored_victims.chunks(IN_CHUNK) {
        let n = with_conn!(conn, |c| diesel::update(
            eq::table
                .filter(eq::id.eq_any(chunk))
                .filter(eq::status.eq(QueueStatus::Pending))
        )
        .set((
            eq::status.eq(QueueStatus::Discarded),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?;
        if n != chunk.len() {
            // A worker claimed a victim after it was read: decide again from scratch.
            return Err(DispatchError::VictimTaken);
        }
    }
    for chunk in queue_rows.chunks(INSERT_CHUNK) {
        with_conn!(conn, |c| diesel::insert_into(eq::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(report)
}
