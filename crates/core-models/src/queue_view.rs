//! Read-only views of the queues, for `ctl queue` and the daemons' statistics.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::error::ModelResult;
use crate::event::EventType;
use crate::models::QueueItem;
use crate::schema::{event_queue as eq, live_events as le, services as sv};
use crate::status::QueueStatus;
use crate::with_conn;

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

/// Counts per status for every service (or only `service_id`), services without rows
/// included with zeros.
pub fn stats(conn: &mut DbConn, service_id: Option<i64>) -> ModelResult<Vec<QueueStats>> {
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

/// A service's queue rows in claim order (priority, then age), optionally of one status.
pub fn list(
    conn: &mut DbConn,
    service_id: i64,
    status: Option<QueueStatus>,
    limit: i64,
) -> ModelResult<Vec<QueueEntry>> {
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
