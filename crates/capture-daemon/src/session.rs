//! The capture session's lifecycle in `live_sessions`: orphans of a killed daemon aborted at
//! start, one `active` session per capture (continued by a daemon that takes over), ended
//! `completed` or `aborted`.

use std::time::Duration;

use core_models::{sessions, Db, LiveSession, ModelError, SessionStatus};
use lifecycle::Backoff;
use tokio::time::Instant;

/// Marks `aborted` the sessions of `streamer` left `active` by a daemon that was killed, but
/// `continued` (the one this daemon takes over).
pub async fn abort_orphans(
    db: &Db,
    streamer: &str,
    continued: Option<i64>,
) -> Result<usize, ModelError> {
    let streamer = streamer.to_owned();
    db.run(move |conn| sessions::abort_orphans(conn, &streamer, continued))
        .await
}

/// The session a daemon that took over continues: the holder's, if it is still `active`.
pub async fn inherited(db: &Db, id: Option<i64>) -> Result<Option<LiveSession>, ModelError> {
    let Some(id) = id else { return Ok(None) };
    let s = db.run(move |conn| sessions::get(conn, id)).await?;
    Ok((s.status == SessionStatus::Active).then_some(s))
}

/// Opens this run's session.
pub async fn start(
    db: &Db,
    name: Option<&str>,
    room_id: i64,
    streamer: &str,
) -> Result<LiveSession, ModelError> {
    let name = name.map(str::to_owned);
    let streamer = streamer.to_owned();
    db.run(move |conn| sessions::start(conn, name.as_deref(), &room_id.to_string(), &streamer))
        .await
}

/// Ends the session, retrying until `deadline` (the database may be coming back from an
/// outage at that very moment).
pub async fn finish(
    db: &Db,
    id: i64,
    status: SessionStatus,
    notes: Option<String>,
    deadline: Instant,
) -> Result<(), ModelError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(3));
    loop {
        let notes = notes.clone();
        match db
            .run(move |conn| sessions::finish(conn, id, status, notes.as_deref()))
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => {
                let wait = backoff.next_delay();
                if Instant::now() + wait >= deadline {
                    return Err(e);
                }
                tracing::warn!(error = %e, "closing the session failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
