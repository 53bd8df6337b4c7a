//! What an operator does to a queue by hand (`ctl queue clear|retry`, the control room's
//! buttons): clear what waits, retry what failed, skip what runs. Each is one statement on
//! the items of one service, so it needs no lock beyond the rows it changes and never waits
//! on a claim (a claimed row is `processing`, which clear and retry leave alone).

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::{services, with_conn, DbConn, QueueReason, QueueStatus};
use diesel::prelude::*;

use crate::error::{retry, EngineError};

/// `pending` → `discarded` (reason `cleared`) for every pending item of the service;
/// returns how many.
pub(crate) fn clear(conn: &mut DbConn, slug: &str) -> Result<u64, EngineError> {
    let service = services::find(conn, slug)?;
    let t = now();
    retry(|| {
        Ok(with_conn!(conn, |c| diesel::update(
            eq::table
                .filter(eq::service_id.eq(service.id))
                .filter(eq::status.eq(QueueStatus::Pending))
        )
        .set((
            eq::status.eq(QueueStatus::Discarded),
            eq::reason.eq(Some(QueueReason::Cleared)),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
        .execute(c))? as u64)
    })
}

/// `failed` → `pending` for the service's failed items (or only `item`), their attempts
/// kept (so `max_attempts` still bounds a poison event); returns how many. An `item` that is
/// not a failed item of this service is a not-found error naming it.
pub(crate) fn retry_failed(
    conn: &mut DbConn,
    slug: &str,
    item: Option<i64>,
) -> Result<u64, EngineError> {
    let service = services::find(conn, slug)?;
    let t = now();
    let n = retry(|| {
        Ok(with_conn!(conn, |c| {
            let mut q = diesel::update(eq::table)
                .filter(eq::service_id.eq(service.id))
                .filter(eq::status.eq(QueueStatus::Failed))
                .into_boxed();
            if let Some(id) = item {
                q = q.filter(eq::id.eq(id));
            }
            q.set((
                eq::status.eq(QueueStatus::Pending),
                eq::reason.eq(None::<QueueReason>),
                eq::last_error.eq(None::<String>),
                eq::locked_by.eq(None::<String>),
                eq::locked_until.eq(None::<NaiveDateTime>),
                eq::processed_at.eq(None::<NaiveDateTime>),
                eq::updated_at.eq(t),
            ))
            .execute(c)
        })? as u64)
    })?;
    match item {
        Some(id) if n == 0 => Err(not_there(slug, id, "failed")),
        _ => Ok(n),
    }
}

/// `processing` → `failed` (reason `skipped`) for one item of the service, whoever runs it:
/// the worker's outcome for it is then ignored (its finish requires `processing`), and a
/// worker that watches its items stops waiting for it. Not found unless it was running.
pub(crate) fn skip(conn: &mut DbConn, slug: &str, item: i64) -> Result<(), EngineError> {
    let service = services::find(conn, slug)?;
    let t = now();
    let n = retry(|| {
        Ok(with_conn!(conn, |c| diesel::update(
            eq::table
                .find(item)
                .filter(eq::service_id.eq(service.id))
                .filter(eq::status.eq(QueueStatus::Processing))
        )
        .set((
            eq::status.eq(QueueStatus::Failed),
            eq::reason.eq(Some(QueueReason::Skipped)),
            eq::last_error.eq(Some("skipped by an operator")),
            eq::locked_until.eq(None::<NaiveDateTime>),
            eq::processed_at.eq(Some(t)),
            eq::updated_at.eq(t),
        ))
        .execute(c))?)
    })?;
    if n == 0 {
        return Err(not_there(slug, item, "running"));
    }
    Ok(())
}

fn not_there(slug: &str, item: i64, state: &str) -> EngineError {
    EngineError::Model(core_models::ModelError::NotFound(format!(
        "service '{slug}' has no {state} item {item}: `ctl queue list {slug} --status {}` shows them",
        if state == "running" { "processing" } else { state }
    )))
}

/// Of `item_ids`, those still `processing` under `owner`: what a worker whose lease renewal
/// came up short asks, to let go of the items that were skipped (or rescued) meanwhile.
pub(crate) fn still_held(
    conn: &mut DbConn,
    owner: &str,
    item_ids: &[i64],
) -> Result<Vec<i64>, EngineError> {
    let mut held = Vec::with_capacity(item_ids.len());
    for chunk in item_ids.chunks(500) {
        held.extend(with_conn!(conn, |c| eq::table
            .filter(eq::id.eq_any(chunk))
            .filter(eq::status.eq(QueueStatus::Processing))
            .filter(eq::locked_by.eq(owner))
            .select(eq::id)
            .load::<i64>(c))?);
    }
    Ok(held)
}
