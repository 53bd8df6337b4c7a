//! Capture ownership: at most one capture daemon captures a streamer at any moment, on any
//! machine, through a lease row in `capture_leases` renewed by heartbeat. Another daemon for
//! the same streamer stands by, marking itself on the row, and takes over once the holder's
//! lease has expired (or was handed over), continuing the holder's session.

use std::time::Duration;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::capture_leases as cl;
use core_models::{with_conn, DbConn};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::{check_owner, retry, EngineError};
use crate::time::{before, deadline};

/// A standby seen within this long is waiting: a holder stopped on request hands over to it.
const STANDBY_FRESH: Duration = Duration::from_secs(5);

/// Who captures a streamer, until when, and for which session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureLease {
    /// The streamer's @handle.
    pub streamer: String,
    /// The holder's id.
    pub owner: String,
    /// The holder's session, once it has one.
    pub session_id: Option<i64>,
    /// When the lease ends unless renewed.
    pub expires_at: NaiveDateTime,
    /// A daemon waiting to take over, if one was seen lately.
    pub standby: Option<String>,
}

/// What [`acquire_capture`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureClaim {
    /// The caller holds the streamer's capture until `lease.expires_at`.
    Held {
        /// The lease as it is now.
        lease: CaptureLease,
        /// The daemon the caller took the capture over from (its lease expired or was handed
        /// over); `None` for a fresh lease or a renewal.
        took_over_from: Option<String>,
    },
    /// Another daemon holds it; the caller is marked as its standby.
    HeldBy(CaptureLease),
}

/// Row as read.
type Row = (
    String,
    Option<i64>,
    NaiveDateTime,
    Option<String>,
    Option<NaiveDateTime>,
);

/// Takes, renews or takes over the capture of `streamer` (see
/// [`Engine::acquire_capture`](crate::Engine::acquire_capture)), in one transaction. The
/// current row is read, then changed only if it is still what was read (owner and expiry):
/// of two daemons racing for an expired lease exactly one changes the row (InnoDB re-reads it
/// under the UPDATE's lock; SQLite's immediate transaction serialises them), and of two
/// racing for an absent one exactly one inserts it. A caller that does not get it is marked
/// on the row as the standby when `stand_by` (a daemon waiting to take over; not a holder
/// whose renewal found it lost). `presumed_dead` names a holder the
/// caller knows to be gone (a process of this machine that no longer exists): its lease is
/// taken at once rather than when it expires.
pub(crate) fn acquire_capture(
    conn: &mut DbConn,
    streamer: &str,
    owner: &str,
    ttl: Duration,
    presumed_dead: Option<&str>,
    stand_by: bool,
) -> Result<CaptureClaim, EngineError> {
    let owner = check_owner(owner)?;
    retry(|| {
        conn.transaction(|conn| {
            let t = now();
            let until = deadline(t, ttl);
            let Some(current) = read(conn, streamer)? else {
                return insert(conn, streamer, owner, t, until, stand_by);
            };
            let (holder, session_id, expires_at, ..) = current.clone();
            let free = holder == owner || expires_at <= t || presumed_dead == Some(holder.as_str());
            if !free {
                if stand_by {
                    mark_standby(conn, streamer, owner, t)?;
                }
                return Ok(CaptureClaim::HeldBy(lease_of(streamer, current, t)));
            }
            let changed = with_conn!(conn, |c| diesel::update(
                cl::table
                    .filter(cl::streamer_unique_id.eq(streamer))
                    .filter(cl::owner.eq(&holder))
                    .filter(cl::expires_at.eq(expires_at))
            )
            .set((
                cl::owner.eq(owner),
                cl::expires_at.eq(until),
                cl::updated_at.eq(t),
            ))
            .execute(c))?;
            if changed == 0 {
                // Someone else changed it since the read: whoever that was holds it now.
                return Ok(match read(conn, streamer)? {
                    Some(row) => CaptureClaim::HeldBy(lease_of(streamer, row, t)),
                    None => insert(conn, streamer, owner, t, until, stand_by)?,
                });
            }
            // The standby that just took over is no longer waiting.
            if current.3.as_deref() == Some(owner) {
                clear_standby(conn, streamer)?;
            }
            let (_, _, _, standby, seen) = current;
            let standby = fresh_standby(standby.filter(|s| s != owner), seen, t);
            Ok(CaptureClaim::Held {
                lease: CaptureLease {
                    streamer: streamer.to_owned(),
                    owner: owner.to_owned(),
                    session_id,
                    expires_at: until,
                    standby,
                },
                took_over_from: (holder != owner).then_some(holder),
            })
        })
    })
}

/// Records the holder's session on its lease, for a daemon that takes over.
pub(crate) fn set_capture_session(
    conn: &mut DbConn,
    streamer: &str,
    owner: &str,
    session_id: i64,
) -> Result<bool, EngineError> {
    let n = retry(|| {
        Ok(with_conn!(conn, |c| diesel::update(
            cl::table
                .filter(cl::streamer_unique_id.eq(streamer))
                .filter(cl::owner.eq(owner))
        )
        .set((
            cl::session_id.eq(Some(session_id)),
            cl::updated_at.eq(now())
        ))
        .execute(c))?)
    })?;
    Ok(n == 1)
}

/// How a holder lets its capture go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureRelease {
    /// The session is over (closed by the holder): the row goes.
    Close,
    /// A standby continues the session: the lease expires now, the session stays on it.
    HandOver,
}

/// Lets `owner`'s capture of `streamer` go (see
/// [`Engine::release_capture`](crate::Engine::release_capture)); false when it was not held.
pub(crate) fn release_capture(
    conn: &mut DbConn,
    streamer: &str,
    owner: &str,
    how: CaptureRelease,
) -> Result<bool, EngineError> {
    let mine = cl::table
        .filter(cl::streamer_unique_id.eq(streamer))
        .filter(cl::owner.eq(owner));
    let n = retry(|| {
        Ok(match how {
            CaptureRelease::Close => with_conn!(conn, |c| diesel::delete(mine).execute(c))?,
            CaptureRelease::HandOver => {
                // A second in the past, so no clock rounding keeps it alive.
                let t = now();
                let expired = before(t, Duration::from_secs(1));
                with_conn!(conn, |c| diesel::update(mine)
                    .set((cl::expires_at.eq(expired), cl::updated_at.eq(t)))
                    .execute(c))?
            }
        })
    })?;
    Ok(n == 1)
}

fn read(conn: &mut DbConn, streamer: &str) -> Result<Option<Row>, EngineError> {
    Ok(with_conn!(conn, |c| cl::table
        .filter(cl::streamer_unique_id.eq(streamer))
        .select((
            cl::owner,
            cl::session_id,
            cl::expires_at,
            cl::standby,
            cl::standby_seen_at,
        ))
        .first(c)
        .optional())?)
}

/// A new lease row, unless another daemon inserted one first.
fn insert(
    conn: &mut DbConn,
    streamer: &str,
    owner: &str,
    t: NaiveDateTime,
    until: NaiveDateTime,
    stand_by: bool,
) -> Result<CaptureClaim, EngineError> {
    let inserted = with_conn!(conn, |c| diesel::insert_or_ignore_into(cl::table)
        .values((
            cl::streamer_unique_id.eq(streamer),
            cl::owner.eq(owner),
            cl::expires_at.eq(until),
            cl::created_at.eq(t),
            cl::updated_at.eq(t),
        ))
        .execute(c))?;
    if inserted == 1 {
        return Ok(CaptureClaim::Held {
            lease: CaptureLease {
                streamer: streamer.to_owned(),
                owner: owner.to_owned(),
                session_id: None,
                expires_at: until,
                standby: None,
            },
            took_over_from: None,
        });
    }
    match read(conn, streamer)? {
        Some(row) => {
            if stand_by {
                mark_standby(conn, streamer, owner, t)?;
            }
            Ok(CaptureClaim::HeldBy(lease_of(streamer, row, t)))
        }
        // Inserted and deleted in between: run the transaction again.
        None => Err(EngineError::LeaseRace(format!(
            "the capture lease of @{streamer} changed while it was being taken"
        ))),
    }
}

fn mark_standby(
    conn: &mut DbConn,
    streamer: &str,
    owner: &str,
    t: NaiveDateTime,
) -> Result<(), EngineError> {
    with_conn!(conn, |c| diesel::update(
        cl::table.filter(cl::streamer_unique_id.eq(streamer))
    )
    .set((cl::standby.eq(Some(owner)), cl::standby_seen_at.eq(Some(t))))
    .execute(c))?;
    Ok(())
}

fn clear_standby(conn: &mut DbConn, streamer: &str) -> Result<(), EngineError> {
    with_conn!(conn, |c| diesel::update(
        cl::table.filter(cl::streamer_unique_id.eq(streamer))
    )
    .set((
        cl::standby.eq(None::<String>),
        cl::standby_seen_at.eq(None::<NaiveDateTime>),
    ))
    .execute(c))?;
    Ok(())
}

fn lease_of(streamer: &str, row: Row, t: NaiveDateTime) -> CaptureLease {
    let (owner, session_id, expires_at, standby, seen) = row;
    CaptureLease {
        streamer: streamer.to_owned(),
        owner,
        session_id,
        expires_at,
        standby: fresh_standby(standby, seen, t),
    }
}

/// The standby, if it was seen lately enough to be waiting still.
fn fresh_standby(
    standby: Option<String>,
    seen: Option<NaiveDateTime>,
    t: NaiveDateTime,
) -> Option<String> {
    standby.filter(|_| seen.is_some_and(|s| s > before(t, STANDBY_FRESH)))
}
