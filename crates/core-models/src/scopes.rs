//! Which streamers a service serves (`service_streamers`): with several streamers captured
//! into one database, a service scoped to some of them receives only their events. A service
//! with no streamer listed serves every streamer.

use std::collections::BTreeMap;

use diesel::prelude::*;
use events::Streamer;

use crate::db::DbConn;
use crate::error::ModelResult;
use crate::models::now;
use crate::schema::service_streamers as ss;
use crate::with_conn;

/// The streamers a service serves, sorted; empty = every streamer.
pub fn streamers_of(conn: &mut DbConn, service_id: i64) -> ModelResult<Vec<String>> {
    Ok(with_conn!(conn, |c| ss::table
        .filter(ss::service_id.eq(service_id))
        .order(ss::streamer_unique_id.asc())
        .select(ss::streamer_unique_id)
        .load(c))?)
}

/// Every scoped service's streamers, by service id (services serving everyone are absent).
pub fn all(conn: &mut DbConn) -> ModelResult<BTreeMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = with_conn!(conn, |c| ss::table
        .order((ss::service_id.asc(), ss::streamer_unique_id.asc()))
        .select((ss::service_id, ss::streamer_unique_id))
        .load(c))?;
    let mut scopes: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (service_id, streamer) in rows {
        scopes.entry(service_id).or_default().push(streamer);
    }
    Ok(scopes)
}

/// Replaces a service's streamers (empty: every streamer). Runs in the caller's transaction.
pub fn replace(conn: &mut DbConn, service_id: i64, streamers: &[Streamer]) -> ModelResult<()> {
    let t = now();
    let mut handles: Vec<&str> = streamers.iter().map(Streamer::as_str).collect();
    handles.sort_unstable();
    handles.dedup();
    with_conn!(conn, |c| {
        diesel::delete(ss::table.filter(ss::service_id.eq(service_id))).execute(c)?;
        for handle in &handles {
            diesel::insert_into(ss::table)
                .values((
                    ss::service_id.eq(service_id),
                    ss::streamer_unique_id.eq(*handle),
                    ss::created_at.eq(t),
                    ss::updated_at.eq(t),
                ))
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

/// True when a service with these `streamers` (empty: everyone) serves `streamer`.
pub fn serves(streamers: &[String], streamer: &str) -> bool {
    streamers.is_empty() || streamers.iter().any(|s| s == streamer)
}
