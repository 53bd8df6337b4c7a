//! One capture run: database checks, the streamer, orphaned sessions, the client, and the
//! loop that turns client events into console lines, recorded frames and stored batches.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use core_models::{
    config_store, CapturedEvent, Db, DbUrl, LiveSession, PoolOptions, SessionStatus,
};
use dispatcher::{Batch, SessionRef};
use lifecycle::Shutdown;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;
use webcast::{Client, ClientConfig, ClientEvent, ConnectionStatus, StopReason};

use crate::cli::Args;
use crate::committer::{Committer, CommitterConfig};
use crate::console::{Console, Verbosity};
use crate::error::Fatal;
use crate::record::RecordTask;
use crate::session;
use crate::spool::{Spool, SpoolError};

fn parse_url(flag: &str, value: &str) -> Result<Url, Fatal> {
    Url::parse(value.trim())
        .map_err(|e| Fatal::Usage(format!("{flag} '{value}' is not a URL: {e}")))
}

/// The endpoints given on the command line, checked before anything else is touched.
struct Endpoints {
    sign_server: Option<Url>,
    tiktok_web: Option<Url>,
}

impl Endpoints {
    fn parse(args: &Args) -> Result<Endpoints, Fatal> {
        let parse =
            |flag: &str, v: &Option<String>| v.as_deref().map(|v| parse_url(flag, v)).transpose();
        Ok(Endpoints {
            sign_server: parse("--sign-server-url", &args.sign_server_url)?,
            tiktok_web: parse("--tiktok-base-url", &args.tiktok_base_url)?,
        })
    }
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

fn client_config(args: &Args, endpoints: Endpoints, streamer: &str, record: bool) -> ClientConfig {
    let mut config = ClientConfig::new(streamer);
    if let Some(sign) = endpoints.sign_server {
        config.sign_server_url = sign;
    }
    if let Some(web) = endpoints.tiktok_web {
        config.web_base = web.clone();
        config.api_base = web;
    }
    config.room_id = args.room_id;
    config.emit_raw_frames = record;
    config.max_attempts = (args.max_attempts > 0).then_some(args.max_attempts);
    config.backoff = config
        .backoff
        .with_initial(Duration::from_millis(args.reconnect_delay_ms.max(1)));
    config
}

/// Runs the capture until the LIVE ends, a signal arrives or a fatal error happens.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), Fatal> {
    let console = Console::new(if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    });
    let endpoints = Endpoints::parse(&args)?;

    // The database first: nothing can be captured without it at start.
    let url =
        DbUrl::resolve(args.database_url.as_deref()).map_err(|e| Fatal::Usage(e.to_string()))?;
    let masked = url.masked();
    let db = open_database(&url).await?;
    let streamer = resolve_streamer(&db, &args, &masked).await?;
    // The spool: leftovers of a killed run are stored before anything new. Named for the
    // streamer and the database, so a spool is only ever stored into the database its
    // session rows live in (MySQL users share ./data across databases).
    let spool_dir: PathBuf = args.spool_dir.clone().unwrap_or_else(|| url.data_dir());
    let spool_path = spool_dir.join(format!(
        "capture-spool-{streamer}-{:08x}.jsonl",
        fnv1a(&masked)
    ));
    // Locked before the orphan sweep below: a second daemon for the same streamer and
    // database stops here instead of aborting the first one's live session.
    let spool = Spool::open(&spool_path, args.spool_memory_events).map_err(|e| match e {
        SpoolError::Locked { .. } => Fatal::Usage(format!(
            "another capture-daemon is already capturing @{streamer} into {masked} ({e}); stop it first"
        )),
        e => Fatal::Other(e.to_string()),
    })?;
    let orphans = session::abort_orphans(&db, &streamer)
        .await
        .map_err(|e| Fatal::Database(format!("cannot update sessions in {masked}: {e}")))?;
    if orphans > 0 {
        console.status(format!(
            "🧹 {orphans} session(s) of @{streamer} left active by a stopped daemon marked aborted"
        ));
    }

    let drain_timeout = Duration::from_secs(args.drain_timeout);
    let committer = Committer::spawn(
        db.clone(),
        spool,
        console,
        CommitterConfig {
            drain_timeout,
            ..CommitterConfig::default()
        },
    );
    let recorder = match &args.record {
        Some(path) => Some(RecordTask::start(path).map_err(|e| Fatal::Other(e.to_string()))?),
        None => None,
    };

    let config = client_config(&args, endpoints, &streamer, recorder.is_some());
    console.status(format!(
        "🔌 connecting to @{streamer}'s LIVE (sign server {}) …",
        config.sign_server_url.as_str().trim_end_matches('/')
    ));
    let client = Client::new(config).map_err(|e| Fatal::Other(e.to_string()))?;
    let counters = client.counters();
    let (events, client_task) = client.spawn(64, shutdown.clone());

    let mut capture = Capture {
        db: &db,
        console,
        streamer: &streamer,
        masked: &masked,
        session_name: args.session_name.as_deref(),
        committer: &committer.tx,
        recorder: recorder.as_ref(),
        live: None,
        ended: false,
    };
    let early = capture.pump(events).await;
    let Capture { live, ended, .. } = capture;
    let fatal = match early {
        // Leaving early must not wait for a client sleeping in its reconnect backoff.
        Some(f) => {
            client_task.abort();
            Some(f)
        }
        None => match client_task.await {
            Err(e) => Some(Fatal::Other(format!("client task failed: {e}"))),
            Ok(Err(e)) => Some(Fatal::from_client(e)),
            Ok(Ok(StopReason::ReceiverGone)) if !shutdown.is_triggered() && !ended => {
                Some(Fatal::Other("the capture loop stopped unexpectedly".into()))
            }
            Ok(Ok(_)) => None,
        },
    };

    // Store what is buffered (bounded by --drain-timeout), then close the session.
    let Committer { tx, task, stats } = committer;
    drop(tx);
    if let Some(r) = recorder {
        let frames = r.finish();
        console.detail(format!("   recorded {frames} frame(s)"));
    }
    let outcome = task
        .await
        .map_err(|e| Fatal::Other(format!("committer task failed: {e}")))?
        .map_err(|e| Fatal::Other(e.to_string()))?;
    {
        use webcast::client::ClientCounters as C;
        console.detail(format!(
            "   protocol: {} connection(s), {} frame(s) ({} unreadable), {} message(s) skipped, {} ack(s), {} heartbeat(s), {} event(s); store: {} frame(s) in {} transaction(s), {} outage(s)",
            C::get(&counters.connections),
            C::get(&counters.frames),
            C::get(&counters.bad_frames),
            C::get(&counters.skipped_messages),
            C::get(&counters.acks),
            C::get(&counters.heartbeats),
            C::get(&counters.events),
            stats.batches.load(Ordering::Relaxed),
            stats.commits.load(Ordering::Relaxed),
            stats.outages.load(Ordering::Relaxed),
        ));
    }
    if outcome.left_batches > 0 {
        // The session stays active: the next start aborts it and stores the spool.
        return Err(Fatal::Other(format!(
            "the database is still unavailable: {} event(s) in {} batch(es) kept in {}; they are stored at the next start",
            outcome.left_events,
            outcome.left_batches,
            spool_path.display()
        )));
    }
    if let Some(s) = &live {
        let (status, notes) = match &fatal {
            None if ended => (SessionStatus::Completed, "the LIVE ended".to_owned()),
            None => (
                SessionStatus::Completed,
                "stopped on request (Ctrl+C, SIGTERM or the program running it)".to_owned(),
            ),
            Some(f) => (SessionStatus::Aborted, f.to_string()),
        };
        let deadline = Instant::now() + drain_timeout.max(Duration::from_secs(1));
        if let Err(e) = session::finish(&db, s.id, status, Some(notes), deadline).await {
            return Err(fatal.unwrap_or(Fatal::Other(format!(
                "cannot close session {} in {masked}: {e}",
                s.id
            ))));
        }
        console.status(format!(
            "📊 session {} {}: {} event(s) stored, {} duplicate(s) skipped",
            s.id,
            status.as_str(),
            stats.stored.load(Ordering::Relaxed),
            stats.duplicates.load(Ordering::Relaxed),
        ));
    }
    match fatal {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The capture loop's state: client events in, console lines, recorded frames and batches
/// for the committer out.
struct Capture<'a> {
    db: &'a Db,
    console: Console,
    streamer: &'a str,
    masked: &'a str,
    session_name: Option<&'a str>,
    committer: &'a mpsc::Sender<Batch>,
    recorder: Option<&'a RecordTask>,
    /// The session, once the room is known.
    live: Option<LiveSession>,
    /// The LIVE ended.
    ended: bool,
}

impl Capture<'_> {
    /// Handles client events until the client stops; returns a fatal error met on the way.
    async fn pump(&mut self, mut events: mpsc::Receiver<ClientEvent>) -> Option<Fatal> {
        while let Some(event) = events.recv().await {
            let result = match event {
                ClientEvent::Status(status) => self.status(status).await,
                ClientEvent::Events(batch) => self.events(batch).await,
                ClientEvent::RawFrame(frame) => {
                    if let Some(r) = self.recorder {
                        r.frame(frame);
                    }
                    Ok(())
                }
                ClientEvent::StreamEnded => {
                    // The LiveEndEvent's own line already told the streamer.
                    self.ended = true;
                    self.console.detail("   [status] stream ended");
                    Ok(())
                }
            };
            if let Err(fatal) = result {
                return Some(fatal);
            }
        }
        None
    }

    async fn status(&mut self, status: ConnectionStatus) -> Result<(), Fatal> {
        let console = self.console;
        let streamer = self.streamer;
        match &status {
            ConnectionStatus::RoomResolved { room_id } if self.live.is_none() => {
                let s = session::start(self.db, self.session_name, *room_id, streamer)
                    .await
                    .map_err(|e| {
                        Fatal::Database(format!("cannot start the session in {}: {e}", self.masked))
                    })?;
                console.status(format!(
                    "🎬 session {} started for @{streamer} (room {room_id})",
                    s.id
                ));
                self.live = Some(s);
            }
            ConnectionStatus::Connected { connection, .. } => {
                if *connection == 1 {
                    console.status(format!("✅ connected to @{streamer}'s LIVE"));
                } else {
                    console.status(format!(
                        "✅ reconnected (connection {connection}), same session"
                    ));
                }
            }
            ConnectionStatus::Rejected { status, message } => {
                console.status(format!(
                    "⛔ TikTok refused the connection: {status} {message}"
                ));
            }
            ConnectionStatus::Disconnected { reason } => {
                console.status(format!("⚠️ disconnected: {reason}"));
            }
            ConnectionStatus::Retrying { after } => {
                console.detail(format!("   retrying in {:.1}s", after.as_secs_f64()));
            }
            _ => {}
        }
        console.detail(format!("   [status] {status:?}"));
        Ok(())
    }

    async fn events(&mut self, events: Vec<CapturedEvent>) -> Result<(), Fatal> {
        self.console.events(&events);
        let Some(s) = &self.live else {
            // The client resolves the room before it reads any event; be safe anyway.
            tracing::warn!(
                n = events.len(),
                "events before the session started; dropped"
            );
            return Ok(());
        };
        let batch = Batch {
            session: SessionRef::of(s),
            events,
        };
        self.committer
            .send(batch)
            .await
            .map_err(|_| Fatal::Other("the committer stopped unexpectedly".into()))
    }
}
