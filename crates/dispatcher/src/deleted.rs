//! Comments a moderator deleted: a batch holding a CommentDeletedEvent discards the pending
//! queue items of those comments (its `deleted_msg_ids` in the room, and every comment of its
//! `deleted_user_ids` in the session), with reason `deleted`, so that no service shows a
//! comment TikTok took down. An item already claimed is left alone: it is on its way.
//!
//! Lock order (see the crate docs): plain reads of `live_events` and of `event_queue`, then
//! the items by primary key with `pending` re-checked, in the dispatch's `event_queue` step.

use chrono::NaiveDateTime;
use core_models::schema::{event_queue as eq, live_events as le};
use core_models::{with_conn, CapturedEvent, DbConn, EventType, QueueReason, QueueStatus};
use diesel::prelude::*;

use crate::batch::SessionRef;
use crate::error::EngineError;

/// Ids per `IN (…)` list.
const IN_CHUNK: usize = 1000;

/// What the CommentDeletedEvents of a batch delete.
#[derive(Debug, Default)]
pub(crate) struct Deletions {
    msg_ids: Vec<i64>,
    user_ids: Vec<String>,
}

impl Deletions {
    /// The deletions named by the batch's CommentDeletedEvents (the event_data contract:
    /// `deleted_msg_ids` numbers, `deleted_user_ids` strings).
    pub(crate) fn of(events: &[&CapturedEvent]) -> Deletions {
        let mut deletions = Deletions::default();
        for e in events
            .iter()
            .filter(|e| e.event_type == EventType::CommentDeleted)
        {
            let list = |key: &str| e.data.get(key).and_then(|v| v.as_array()).cloned();
            deletions.msg_ids.extend(
                list("deleted_msg_ids")
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_i64()),
            );
            deletions.user_ids.extend(
                list("deleted_user_ids")
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
        deletions
    }

    fn is_empty(&self) -> bool {
        self.msg_ids.is_empty() && self.user_ids.is_empty()
    }
}

/// Discards the pending items of the deleted comments; returns how many.
pub(crate) fn discard(
    conn: &mut DbConn,
    session: &SessionRef,
    deletions: &Deletions,
    t: NaiveDateTime,
) -> Result<u64, EngineError> {
    if deletions.is_empty() {
        return Ok(0);
    }
    let comments = deleted_comments(conn, session, deletions)?;
    let mut discarded = 0;
    for chunk in comments.chunks(IN_CHUNK) {
        let items: Vec<i64> = with_conn!(conn, |c| eq::table
            .filter(eq::live_event_id.eq_any(chunk))
            .filter(eq::status.eq(QueueStatus::Pending))
            .select(eq::id)
            .load(c))?;
        if items.is_empty() {
            continue;
        }
        let n = with_conn!(conn, |c| diesel::update(
            eq::table
                .filter(eq::id.eq_any(&items))
                .filter(eq::status.eq(QueueStatus::Pending))
        )
        .set((
            eq::status.eq(QueueStatus::Discarded),
            eq::reason.eq(Some(QueueReason::Deleted)),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?;
        discarded += n as u64;
    }
    if discarded > 0 {
        tracing::debug!(discarded, "queue items of deleted comments discarded");
    }
    Ok(discarded)
}

/// The `live_events` ids of the deleted comments.
fn deleted_comments(
    conn: &mut DbConn,
    session: &SessionRef,
    deletions: &Deletions,
) -> Result<Vec<i64>, EngineError> {
    let room_id = session.room_id.as_str();
    let mut ids = Vec::new();
    for chunk in deletions.msg_ids.chunks(IN_CHUNK) {
        let found: Vec<i64> = with_conn!(conn, |c| le::table
            .filter(le::room_id.eq(room_id))
            .filter(le::msg_id.eq_any(chunk))
            .filter(le::event_type.eq(EventType::Comment))
            .select(le::id)
            .load(c))?;
        ids.extend(found);
    }
    for chunk in deletions.user_ids.chunks(IN_CHUNK) {
        let found: Vec<i64> = with_conn!(conn, |c| le::table
            .filter(le::session_id.eq(session.session_id))
            .filter(le::user_id.eq_any(chunk))
            .filter(le::event_type.eq(EventType::Comment))
            .select(le::id)
            .load(c))?;
        ids.extend(found);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
