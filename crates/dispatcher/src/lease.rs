//! Service ownership: at most one worker daemon runs a service at any moment, through a lease
//! row in `service_leases` renewed by heartbeat. A standby takes a service over only once its
//! owner's lease has expired.

use std::time::Duration;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::service_leases as sl;
use core_models::{with_conn, DbConn};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::{check_owner, retry, EngineError};
use crate::time::deadline;

/// Who holds a service, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLease {
    /// The service.
    pub service_id: i64,
    /// The holder's id.
    pub owner: String,
    /// When the lease ends unless renewed.
    pub expires_at: NaiveDateTime,
}

/// Takes, renews or takes over a service lease (see
/// [`Engine::acquire_service`](crate::Engine::acquire_service)) in one transaction: a
/// conditional UPDATE of the holder's own or an expired lease, else an INSERT of an absent
/// row. Of two daemons racing for a free or expired service exactly one gets true: on MySQL
/// the UPDATE re-reads the row under its lock and the INSERT is an `INSERT IGNORE` on the
/// primary key; on SQLite the immediate transaction serialises them.
pub(crate) fn acquire_service(
    conn: &mut DbConn,
    service_id: i64,
    owner: &str,
    ttl: Duration,
) -> Result<bool, EngineError> {
    let owner = check_owner(owner)?;
    retry(|| {
        conn.transaction(|conn| {
            let t = now();
            let until = deadline(t, ttl);
            let updated = with_conn!(conn, |c| diesel::update(
                sl::table
                    .filter(sl::service_id.eq(service_id))
                    .filter(sl::owner.eq(owner).or(sl::expires_at.le(t)))
            )
            .set((
                sl::owner.eq(owner),
                sl::expires_at.eq(until),
                sl::updated_at.eq(t),
            ))
            .execute(c))?;
            if updated == 1 {
                return Ok(true);
            }
            let inserted = with_conn!(conn, |c| diesel::insert_or_ignore_into(sl::table)
                .values((
                    sl::service_id.eq(service_id),
                    sl::owner.eq(owner),
                    sl::expires_at.eq(until),
                    sl::created_at.eq(t),
                    sl::updated_at.eq(t),
                ))
                .execute(c))?;
            Ok(inserted == 1)
        })
    })
}

/// Deletes `owner`'s lease row (see
/// [`Engine::release_service`](crate::Engine::release_service)).
pub(crate) fn release_service(
    conn: &mut DbConn,
    service_id: i64,
    owner: &str,
) -> Result<bool, EngineError> {
    let owner = check_owner(owner)?;
    let n = retry(|| {
        Ok(with_conn!(conn, |c| diesel::delete(
            sl::table
                .filter(sl::service_id.eq(service_id))
                .filter(sl::owner.eq(owner))
        )
        .execute(c))?)
    })?;
    Ok(n == 1)
}

/// The unexpired lease of a service, if any (see
/// [`Engine::service_owner`](crate::Engine::service_owner)).
pub(crate) fn service_owner(
    conn: &mut DbConn,
    service_id: i64,
) -> Result<Option<ServiceLease>, EngineError> {
    let t = now();
    let row: Option<(i64, String, NaiveDateTime)> = with_conn!(conn, |c| sl::table
        .filter(sl::service_id.eq(service_id))
        .filter(sl::expires_at.gt(t))
        .select((sl::service_id, sl::owner, sl::expires_at))
        .first(c)
        .optional())?;
    Ok(row.map(|(service_id, owner, expires_at)| ServiceLease {
        service_id,
        owner,
        expires_at,
    }))
}

/// Every unexpired service lease, by service id: who runs what, in one read.
pub(crate) fn service_owners(conn: &mut DbConn) -> Result<Vec<ServiceLease>, EngineError> {
    let t = now();
    let rows: Vec<(i64, String, NaiveDateTime)> = with_conn!(conn, |c| sl::table
        .filter(sl::expires_at.gt(t))
        .select((sl::service_id, sl::owner, sl::expires_at))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(service_id, owner, expires_at)| ServiceLease {
            service_id,
            owner,
            expires_at,
        })
        .collect())
}
