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

/// Takes (or keeps) a service for `owner` until `now + ttl`, atomically: creates the lease if
/// there is none, renews it if it is already `owner`'s, takes it over if it has expired.
/// Returns false when another owner holds an unexpired lease.
///
/// Two daemons racing for a free or expired service: exactly one gets true. On MySQL the
/// conditional UPDATE re-reads the row under its lock, and the INSERT of an absent row is an
/// `INSERT IGNORE` on the primary key; on SQLite the immediate transaction serialises them.
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

/// Gives a service up (at shutdown) so a standby can take it at once instead of waiting for
/// the lease to expire. Returns false when `owner` did not hold it.
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

/// The current holder of a service, if its lease has not expired.
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
