//! The capture session's lifecycle in `live_sessions`: orphans of a killed daemon aborted at
//! start, one `active` session per run, ended `completed` or `aborted`.

use std::time::Duration;

use core_models::{sessions, Db, LiveSession, ModelError, SessionStatus};
use lifecycle::Backoff;
use tokio::time::Instant;

/// Marks `aborted` the sessions of `streamer` left `active` by a daemon that was killed.
pub async fn abort_orphans(db: &Db, streamer: &str) -> Result<usize, ModelError> {
    let streamer = streamer.to_owned();
    db.run(move |conn| sessions::abort_orphans(conn, &streamer))
        .await
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
