//! Reads for display: queue counts and listings (`ctl queue`, `ctl service show`, the
//! worker's `/api/stats`, the demo's summary) and the events captured since a mark.

use std::collections::BTreeMap;

use core_models::schema::{event_queue as eq, live_events as le, services as sv};
use core_models::{with_conn, DbConn, EventType, QueueItem, QueueReason, QueueStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::EngineError;

/// Queue rows of one service by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Service id.
    pub service_id: i64,
    /// Service slug.
    pub slug: String,
    /// Service name.
    pub name: String,
    /// Waiting to be claimed.
    pub pending: i64,
    /// Claimed by a worker.
    pub processing: i64,
    /// Done.
    pub completed: i64,
    /// Failed.
    pub failed: i64,
    /// Dropped by the overflow policy.
    pub discarded: i64,
}

impl QueueStats {
    fn add(&mut self, status: QueueStatus, n: i64) {
        let slot = match status {
            QueueStatus::Pending => &mut self.pending,
            QueueStatus::Processing => &mut self.processing,
            QueueStatus::Completed => &mut self.completed,
            QueueStatus::Failed => &mut self.failed,
            QueueStatus::Discarded => &mut self.discarded,
        };
        *slot += n;
    }
}

/// Counts per status (see [`Engine::stats`](crate::Engine::stats)).
pub(crate) fn stats(
    conn: &mut DbConn,
    service_id: Option<i64>,
) -> Result<Vec<QueueStats>, EngineError> {
    let services: Vec<(i64, String, String)> = with_conn!(conn, |c| {
        let mut q = sv::table
            .select((sv::id, sv::slug, sv::name))
            .order(sv::id.asc())
            .into_boxed();
        if let Some(id) = service_id {
            q = q.filter(sv::id.eq(id));
        }
        q.load(c)
    })?;
    let counts: Vec<(i64, QueueStatus, i64)> = with_conn!(conn, |c| {
        let mut q = eq::table
            .group_by((eq::service_id, eq::status))
            .select((eq::service_id, eq::status, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(id) = service_id {
            q = q.filter(eq::service_id.eq(id));
        }
        q.load(c)
    })?;
    let mut by_id: BTreeMap<i64, QueueStats> = services
        .into_iter()
        .map(|(id, slug, name)| {
            (
                id,
                QueueStats {
                    service_id: id,
                    slug,
                    name,
                    ..QueueStats::default()
                },
            )
        })
        .collect();
    for (id, status, n) in counts {
        if let Some(s) = by_id.get_mut(&id) {
            s.add(status, n);
        }
    }
    Ok(by_id.into_values().collect())
}

/// A queue row with what it carries.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    /// The row.
    #[serde(flatten)]
    pub item: QueueItem,
    /// The event's type.
    pub event_type: EventType,
    /// The acting user's @handle.
    pub user_unique_id: Option<String>,
}

/// Which queue rows [`Engine::list`](crate::Engine::list) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListParams {
    /// The service.
    pub service_id: i64,
    /// Only rows of this status; `None` lists every status.
    pub status: Option<QueueStatus>,
    /// Only rows ended for this reason (`cleared`, `skipped`, …); `None`: any.
    pub reason: Option<QueueReason>,
    /// Most rows returned.
    pub limit: i64,
}

/// A service's queue rows in claim order (see [`Engine::list`](crate::Engine::list)).
pub(crate) fn list(conn: &mut DbConn, params: ListParams) -> Result<Vec<QueueEntry>, EngineError> {
    let ListParams {
        service_id,
        status,
        reason,
        limit,
    } = params;
    let rows: Vec<(QueueItem, EventType, Option<String>)> = with_conn!(conn, |c| {
        let mut q = eq::table
            .inner_join(le::table)
            .filter(eq::service_id.eq(service_id))
            .order((eq::priority.desc(), eq::id.asc()))
            .limit(limit)
            .select((QueueItem::as_select(), le::event_type, le::user_unique_id))
            .into_boxed();
        if let Some(st) = status {
            q = q.filter(eq::status.eq(st));
        }
        if let Some(r) = reason {
            q = q.filter(eq::reason.eq(r));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(item, event_type, user_unique_id)| QueueEntry {
            item,
            event_type,
            user_unique_id,
        })
        .collect())
}

/// Events captured after a mark, for a running summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventTally {
    /// Events stored.
    pub events: i64,
    /// Of which gifts.
    pub gifts: i64,
}

/// The highest `live_events` id so far (0 when none): a mark for [`events_since`].
pub(crate) fn latest_event_id(conn: &mut DbConn) -> Result<i64, EngineError> {
    let id: Option<i64> = with_conn!(conn, |c| le::table
        .select(diesel::dsl::max(le::id))
        .first(c))?;
    Ok(id.unwrap_or(0))
}

/// Events (and gifts) stored with an id above `after`.
pub(crate) fn events_since(conn: &mut DbConn, after: i64) -> Result<EventTally, EngineError> {
    let tally = with_conn!(conn, |c| {
        let ours = le::table.filter(le::id.gt(after));
        let events = ours.count().get_result::<i64>(c)?;
        let gifts = ours
            .filter(le::event_type.eq(EventType::Gift))
            .count()
            .get_result::<i64>(c)?;
        Ok::<_, diesel::result::Error>(EventTally { events, gifts })
    })?;
    Ok(tally)
}
