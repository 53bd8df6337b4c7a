//! One capture per streamer, on any number of machines: the lease in the database. A daemon
//! takes the streamer's lease before it captures anything, or stands by (one line naming the
//! holder) until the holder's lease expires or is handed over; it then continues the holder's
//! session. While capturing it renews the lease; losing it (another daemon took over while
//! this one could not renew) stops the capture and leaves the session to the new holder.

use std::time::Duration;

use core_models::Db;
use dispatcher::{CaptureClaim, CaptureLease, CaptureRelease, Engine, EngineError};
use lifecycle::Shutdown;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::console::Console;
use crate::error::Fatal;

/// How long a lease lasts unless renewed: a standby takes over at most this long (plus one
/// poll) after its holder died.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews: three renewals fit in a lease, so one slow round trip never
/// costs it.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How often a standby asks again.
const STANDBY_POLL: Duration = Duration::from_secs(1);

/// The streamer's capture, held by this daemon.
#[derive(Debug)]
pub struct Held {
    /// This daemon's id in the lease.
    pub owner: String,
    /// The session of the daemon it took over from, to continue.
    pub inherited_session: Option<i64>,
}

/// Takes the capture of `streamer`, standing by while another daemon holds it. `None` when
/// `shutdown` fired while standing by.
pub async fn take(
    db: &Db,
    streamer: &str,
    console: Console,
    shutdown: &Shutdown,
) -> Result<Option<Held>, Fatal> {
    let owner = lifecycle::instance_id();
    let mut told: Option<String> = None;
    let mut presumed_dead: Option<String> = None;
    let mut shutdown = shutdown.clone();
    loop {
        match acquire(db, streamer, &owner, presumed_dead.clone(), true).await {
            Ok(CaptureClaim::Held {
                lease,
                took_over_from,
            }) => {
                if let Some(from) = &took_over_from {
                    console.status(format!(
                        "🔁 took over the capture of @{streamer} from {from}"
                    ));
                }
                return Ok(Some(Held {
                    owner,
                    inherited_session: lease.session_id.filter(|_| took_over_from.is_some()),
                }));
            }
            Ok(CaptureClaim::HeldBy(lease)) => {
                // A holder of this machine whose process is gone (killed): taken at once,
                // asking again with its name, once.
                if presumed_dead.as_deref() != Some(lease.owner.as_str())
                    && lifecycle::is_gone(&lease.owner)
                {
                    presumed_dead = Some(lease.owner);
                    continue;
                }
                if told.as_deref() != Some(lease.owner.as_str()) {
                    console.status(standing_by_line(&lease));
                    told = Some(lease.owner);
                }
            }
            // At start, a database that cannot answer is fatal, as everywhere else at start.
            Err(e) if told.is_none() => {
                return Err(Fatal::Database(format!(
                    "cannot take the capture lease of @{streamer}: {e}"
                )))
            }
            // Standing by, it only delays the takeover.
            Err(e) => tracing::warn!(error = %e, "asking for the capture lease failed"),
        }
        if shutdown.sleep(STANDBY_POLL).await {
            return Ok(None);
        }
    }
}

fn standing_by_line(lease: &CaptureLease) -> String {
    format!(
        "⏸ standing by: {} is capturing @{}; this daemon takes over within {} s if it stops",
        lease.owner,
        lease.streamer,
        (LEASE_TTL + STANDBY_POLL * 2).as_secs()
    )
}

async fn acquire(
    db: &Db,
    streamer: &str,
    owner: &str,
    presumed_dead: Option<String>,
    stand_by: bool,
) -> Result<CaptureClaim, EngineError> {
    let (streamer, owner) = (streamer.to_owned(), owner.to_owned());
    db.run(move |conn| {
        Engine::new(conn).acquire_capture(
            &streamer,
            &owner,
            LEASE_TTL,
            presumed_dead.as_deref(),
            stand_by,
        )
    })
    .await
}

/// The held lease, renewed on its own task while the capture runs.
pub struct Renewal {
    db: Db,
    streamer: String,
    owner: String,
    /// Becomes the new holder's id if the lease is lost.
    lost: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
}

impl Renewal {
    /// Starts renewing `held`.
    pub fn start(db: Db, streamer: &str, held: &Held) -> Renewal {
        let (lost_tx, lost) = watch::channel(None);
        let task = tokio::spawn(renew_loop(
            db.clone(),
            streamer.to_owned(),
            held.owner.clone(),
            lost_tx,
        ));
        Renewal {
            db,
            streamer: streamer.to_owned(),
            owner: held.owner.clone(),
            lost,
            task,
        }
    }

    /// What tells the capture that another daemon has taken it over.
    pub fn lost(&self) -> Lost {
        Lost(self.lost.clone())
    }

    /// Records the session on the lease, for a daemon that takes over.
    pub async fn set_session(&self, session_id: i64) {
        let (streamer, owner) = (self.streamer.clone(), self.owner.clone());
        let set = self
            .db
            .run(move |conn| Engine::new(conn).set_capture_session(&streamer, &owner, session_id))
            .await;
        if let Err(e) = set {
            // The next renewal does not carry it: a takeover would start a new session.
            tracing::warn!(error = %e, "cannot record the session on the capture lease");
        }
    }

    /// The standby waiting to take over now, if there is one (asked with a renewal, so a
    /// standby that started a moment ago counts).
    pub async fn standby(&self) -> Option<String> {
        match acquire(&self.db, &self.streamer, &self.owner, None, false).await {
            Ok(CaptureClaim::Held { lease, .. }) => lease.standby,
            Ok(CaptureClaim::HeldBy(_)) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether a standby is waiting");
                None
            }
        }
    }

    /// Stops renewing and hands the lease to the standby at once (the session stays active
    /// for it). False when the lease was not held any more.
    pub async fn hand_over(&self) -> bool {
        self.release(CaptureRelease::HandOver).await
    }

    /// Stops renewing and lets the lease go as `how` says. False when the lease was not held
    /// any more.
    pub async fn release(&self, how: CaptureRelease) -> bool {
        self.task.abort();
        let (streamer, owner) = (self.streamer.clone(), self.owner.clone());
        self.db
            .run(move |conn| Engine::new(conn).release_capture(&streamer, &owner, how))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot release the capture lease; it expires by itself");
                false
            })
    }
}

impl Drop for Renewal {
    /// A capture dropped without [`Renewal::release`] (an embedding program's) stops renewing:
    /// the lease expires by itself.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Another daemon took the capture over (see [`Renewal::lost`]).
pub struct Lost(watch::Receiver<Option<String>>);

impl Lost {
    /// Resolves with the new holder once the lease is lost; never while it is held.
    pub async fn wait(&mut self) -> String {
        let holder = self
            .0
            .wait_for(Option::is_some)
            .await
            .map(|holder| holder.clone().unwrap_or_default());
        match holder {
            Ok(holder) => holder,
            // The renewal stopped: never lost from here on.
            Err(_) => std::future::pending().await,
        }
    }
}

async fn renew_loop(db: Db, streamer: String, owner: String, lost: watch::Sender<Option<String>>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match acquire(&db, &streamer, &owner, None, false).await {
            Ok(CaptureClaim::Held { .. }) => {}
            Ok(CaptureClaim::HeldBy(lease)) => {
                let _ = lost.send(Some(lease.owner));
                return;
            }
            // A database outage: the capture spools; the lease is renewed when it is back,
            // unless a standby took over meanwhile (then the next renewal says so).
            Err(e) => tracing::warn!(error = %e, "renewing the capture lease failed"),
        }
    }
}
