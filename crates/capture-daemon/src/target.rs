//! What a capture needs before it connects, checked in this order: the database reachable
//! and migrated, the streamer known, the streamer's capture lease held (standing by while
//! another daemon, on any machine, holds it), this streamer's spool locked, and no session
//! of the streamer left `active` by a killed daemon but the one taken over.

use std::path::Path;
use std::time::Duration;

use core_models::{config_store, Db, DbUrl, PoolOptions};

use crate::cli::Args;
use crate::console::Console;
use crate::error::Fatal;
use crate::lease::{self, Held};
use crate::session;
use crate::spool::{Spool, SpoolError};
use core_models::LiveSession;
use lifecycle::Shutdown;

/// Where a capture goes, checked before anything connects.
pub struct Target {
    /// The database.
    pub db: Db,
    /// The database URL without its password, for messages.
    pub masked: String,
    /// The streamer's @handle, normalised.
    pub streamer: String,
    /// This streamer's spool in this database, locked: one daemon each.
    pub spool: Spool,
    /// The streamer's capture lease, held.
    pub lease: Held,
    /// The session of the daemon this one took over from, still `active`: it goes on.
    pub inherited: Option<LiveSession>,
}

impl Target {
    /// A migrated database, the streamer, its capture lease, the spool (with what a killed
    /// run left in it), and no session of the streamer left active by a killed daemon.
    /// `None` when `shutdown` fired while standing by.
    pub async fn prepare(
        args: &Args,
        console: Console,
        shutdown: &Shutdown,
    ) -> Result<Option<Target>, Fatal> {
        // The database first: nothing can be captured without it at start.
        let url = DbUrl::resolve(args.database_url.as_deref())
            .map_err(|e| Fatal::Usage(e.to_string()))?;
        let masked = url.masked();
        let db = open_database(&url).await?;
        let streamer = resolve_streamer(&db, args, &masked).await?;
        // Held before the spool and the orphan sweep below: a second daemon for the same
        // streamer waits here instead of aborting the first one's live session.
        let Some(lease) = lease::take(&db, &streamer, console, shutdown).await? else {
            return Ok(None);
        };
        let spool_dir = args.spool_dir.clone().unwrap_or_else(|| url.data_dir());
        let spool = lock_spool(&spool_dir, &streamer, &masked, args.spool_memory_events)?;
        let sessions_error = |e: core_models::ModelError| {
            Fatal::Database(format!("cannot update sessions in {masked}: {e}"))
        };
        let inherited = session::inherited(&db, lease.inherited_session)
            .await
            .map_err(sessions_error)?;
        let continued = inherited.as_ref().map(|s| s.id);
        let orphans = session::abort_orphans(&db, &streamer, continued)
            .await
            .map_err(sessions_error)?;
        if orphans > 0 {
            console.status(format!(
                "🧹 {orphans} session(s) of @{streamer} left active by a stopped daemon marked aborted"
            ));
        }
        Ok(Some(Target {
            db,
            masked,
            streamer,
            spool,
            lease,
            inherited,
        }))
    }
}

/// Opens the spool, whose leftovers (of a killed run) are stored before anything new. Named
/// for the streamer and the database, so a spool is only ever stored into the database its
/// session rows live in (MySQL users share ./data across databases).
fn lock_spool(
    dir: &Path,
    streamer: &str,
    masked: &str,
    memory_events: usize,
) -> Result<Spool, Fatal> {
    let path = dir.join(format!(
        "capture-spool-{streamer}-{:08x}.jsonl",
        fnv1a(masked)
    ));
    Spool::open(&path, memory_events).map_err(|e| match e {
        SpoolError::Locked { .. } => Fatal::Usage(format!(
            "another capture-daemon is already capturing @{streamer} into {masked} ({e}); stop it first"
        )),
        e => Fatal::Other(e.to_string()),
    })
}

/// Connects (failing fast with the masked URL) and refuses an unmigrated database.
async fn open_database(url: &DbUrl) -> Result<Db, Fatal> {
    let masked = url.masked();
    let db = {
        let url = url.clone();
        let options = PoolOptions {
            max_size: 4,
            // Short, so a database outage is noticed (and spooling starts) quickly.
            checkout_timeout: Duration::from_secs(3),
        };
        tokio::task::spawn_blocking(move || Db::connect(&url, options))
            .await
            .map_err(|e| Fatal::Other(format!("database task failed: {e}")))?
            .map_err(|e| Fatal::Database(format!("database unreachable: {e}")))?
    };
    let pending = db
        .run(|conn| {
            conn.pending_migrations()
                .map_err(|e| core_models::DbError::Migration {
                    url: String::new(),
                    reason: e,
                })
        })
        .await
        .map_err(|e| Fatal::Database(format!("cannot read the migrations of {masked}: {e}")))?;
    if !pending.is_empty() {
        return Err(Fatal::Database(format!(
            "the database {masked} is not migrated ({} migration(s) pending): run `ctl migrate` first",
            pending.len()
        )));
    }
    Ok(db)
}

/// The streamer: `--username`, else Config `tiktok_user`; normalised.
async fn resolve_streamer(db: &Db, args: &Args, masked: &str) -> Result<String, Fatal> {
    let configured = db
        .run(|conn| config_store::get(conn, config_store::TIKTOK_USER))
        .await
        .map_err(|e| {
            Fatal::Database(format!("cannot read the configuration from {masked}: {e}"))
        })?;
    let given = args
        .username
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or(configured.filter(|u| !u.trim().is_empty()));
    let Some(given) = given else {
        return Err(Fatal::Usage(
            "no TikTok username: pass --username NAME or set tiktok_user (`ctl config set tiktok_user NAME`)".into(),
        ));
    };
    webcast::room::normalize_username(&given).map_err(|e| Fatal::Usage(e.to_string()))
}

/// A small stable hash (32-bit FNV-1a): the same URL gives the same spool name across runs
/// and builds, unlike `DefaultHasher`.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
