//! One capture run: database checks, the streamer, orphaned sessions, the client, and the
//! loop that turns client events into console lines, recorded frames and stored batches.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use core_models::{config_store, Db, DbUrl, LiveSession, PoolOptions, SessionStatus};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;
use webcast::client::Backoff;
use webcast::{Client, ClientConfig, ClientEvent, ConnectionStatus, StopReason};

use crate::cli::Args;
use crate::console::{Console, Verbosity};
use crate::error::Fatal;
use crate::record::RecordTask;
use crate::session;
use crate::spool::{Batch, Spool};
use crate::store::{Store, StoreConfig};

/// The one shutdown signal: Ctrl+C and SIGTERM set it; every task watches it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Installs the signal handler. A second signal exits at once (code 130): what was
    /// already spooled to disk is kept for the next start.
    pub fn install() -> Result<Shutdown, Fatal> {
        let (tx, rx) = watch::channel(false);
        let count = Arc::new(AtomicUsize::new(0));
        ctrlc::set_handler(move || {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = tx.send(true);
            } else {
                eprintln!("capture-daemon: second signal, exiting now");
                std::process::exit(130);
            }
        })
        .map_err(|e| Fatal::Other(format!("cannot install the Ctrl+C/SIGTERM handler: {e}")))?;
        Ok(Shutdown { rx })
    }

    /// A signal driven by the embedding program instead of Ctrl+C (it sends `true` to stop).
    pub fn from_receiver(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown { rx }
    }

    /// Completes when the signal came.
    pub async fn wait(mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                // The handler lives for the whole process; treat its loss as "never".
                std::future::pending::<()>().await;
            }
        }
    }

    fn requested(&self) -> bool {
        *self.rx.borrow()
    }
}

/// A small stable hash (32-bit FNV-1a): the same URL gives the same spool name across runs
/// and builds, unlike `DefaultHasher`.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn parse_url(flag: &str, value: &str) -> Result<Url, Fatal> {
    Url::parse(value.trim())
        .map_err(|e| Fatal::Usage(format!("{flag} '{value}' is not a URL: {e}")))
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

    // The database first: nothing can be captured without it at start.
    let url =
        DbUrl::resolve(args.database_url.as_deref()).map_err(|e| Fatal::Usage(e.to_string()))?;
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

    // The streamer: the flag, else Config tiktok_user.
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
    let streamer =
        webcast::room::normalize_username(&given).map_err(|e| Fatal::Usage(e.to_string()))?;

    let orphans = session::abort_orphans(&db, &streamer)
        .await
        .map_err(|e| Fatal::Database(format!("cannot update sessions in {masked}: {e}")))?;
    if orphans > 0 {
        console.status(format!(
            "🧹 {orphans} session(s) of @{streamer} left active by a stopped daemon marked aborted"
        ));
    }

    // The spool: leftovers of a killed run are stored before anything new.
    let spool_dir: PathBuf = args.spool_dir.clone().unwrap_or_else(|| url.data_dir());
    // Named for the streamer and the database, so a spool is only ever stored into the
    // database its session rows live in (MySQL users share ./data across databases).
    let spool_path = spool_dir.join(format!(
        "capture-spool-{streamer}-{:08x}.jsonl",
        fnv1a(&masked)
    ));
    let spool = Spool::open(&spool_path, args.spool_memory_events)
        .map_err(|e| Fatal::Other(e.to_string()))?;
    let drain_timeout = Duration::from_secs(args.drain_timeout);
    let store = Store::spawn(
        db.clone(),
        spool,
        console,
        StoreConfig {
            drain_timeout,
            ..StoreConfig::default()
        },
    );

    let recorder = match &args.record {
        Some(path) => Some(RecordTask::start(path).map_err(|e| Fatal::Other(e.to_string()))?),
        None => None,
    };

    let mut config = ClientConfig::new(streamer.clone());
    if let Some(sign) = &args.sign_server_url {
        config.sign_server_url = parse_url("--sign-server-url", sign)?;
    }
    if let Some(web) = &args.tiktok_base_url {
        let web = parse_url("--tiktok-base-url", web)?;
        config.web_base = web.clone();
        config.api_base = web;
    }
    config.room_id = args.room_id;
    config.emit_raw_frames = recorder.is_some();
    config.max_attempts = (args.max_attempts > 0).then_some(args.max_attempts);
    config.backoff = Backoff {
        initial: Duration::from_millis(args.reconnect_delay_ms.max(1)),
        max: Backoff::default().max,
    };
    let client = Client::new(config).map_err(|e| Fatal::Other(e.to_string()))?;
    console.status(format!(
        "🔌 connecting to @{streamer}'s LIVE (sign server {}) …",
        args.sign_server_url
            .as_deref()
            .unwrap_or(webcast::client::DEFAULT_SIGN_SERVER)
    ));
    let counters = client.counters();
    let (mut events, client_task) = client.spawn(64, shutdown.clone().wait());

    let mut live: Option<LiveSession> = None;
    let mut ended = false;
    let mut rejected = false;
    let mut fatal: Option<Fatal> = None;
    while let Some(event) = events.recv().await {
        match event {
            ClientEvent::Status(status) => {
                match &status {
                    ConnectionStatus::RoomResolved { room_id } if live.is_none() => {
                        match session::start(&db, args.session_name.as_deref(), *room_id, &streamer)
                            .await
                        {
                            Ok(s) => {
                                console.status(format!(
                                    "🎬 session {} started for @{streamer} (room {room_id})",
                                    s.id
                                ));
                                live = Some(s);
                            }
                            Err(e) => {
                                fatal = Some(Fatal::Database(format!(
                                    "cannot start the session in {masked}: {e}"
                                )));
                                break;
                            }
                        }
                    }
                    ConnectionStatus::Connected { connection, .. } => {
                        rejected = false;
                        if *connection == 1 {
                            console.status(format!("✅ connected to @{streamer}'s LIVE"));
                        } else {
                            console.status(format!(
                                "✅ reconnected (connection {connection}), same session"
                            ));
                        }
                    }
                    ConnectionStatus::Rejected { status, message } => {
                        rejected = true;
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
            }
            ClientEvent::Events(batch) => {
                console.events(&batch);
                let Some(s) = &live else {
                    // Events never come before the room is resolved; be safe anyway.
                    tracing::warn!(
                        n = batch.len(),
                        "events before the session started; dropped"
                    );
                    continue;
                };
                let batch = Batch {
                    session_id: s.id,
                    room_id: s.room_id.clone(),
                    streamer: s.streamer_unique_id.clone(),
                    events: batch,
                };
                if store.tx.send(batch).await.is_err() {
                    fatal = Some(Fatal::Other("the store stopped unexpectedly".into()));
                    break;
                }
            }
            ClientEvent::RawFrame(frame) => {
                if let Some(r) = &recorder {
                    r.frame(frame);
                }
            }
            ClientEvent::StreamEnded => {
                // The LiveEndEvent's own line already told the streamer.
                ended = true;
                console.detail("   [status] stream ended");
            }
        }
    }
    // Leaving the loop early (a fatal error here) must not wait for a client sleeping in
    // its reconnect backoff.
    drop(events);
    let fatal = match fatal {
        Some(f) => {
            client_task.abort();
            Some(f)
        }
        None => match client_task.await {
            Err(e) => Some(Fatal::Other(format!("client task failed: {e}"))),
            Ok(Err(e)) => Some(Fatal::from_client(e, rejected)),
            Ok(Ok(StopReason::ReceiverGone)) if !shutdown.requested() && !ended => {
                Some(Fatal::Other("the capture loop stopped unexpectedly".into()))
            }
            Ok(Ok(_)) => None,
        },
    };

    // Store what is buffered (bounded by --drain-timeout), then close the session.
    let Store { tx, task, stats } = store;
    drop(tx);
    if let Some(r) = recorder {
        let frames = r.finish();
        console.detail(format!("   recorded {frames} frame(s)"));
    }
    let outcome = task
        .await
        .map_err(|e| Fatal::Other(format!("store task failed: {e}")))?
        .map_err(|e| Fatal::Other(e.to_string()))?;
    {
        use webcast::client::ClientCounters as C;
        console.detail(format!(
            "   protocol: {} connection(s), {} frame(s) ({} unreadable), {} message(s) skipped, {} ack(s), {} heartbeat(s), {} event(s); store: {} batch(es), {} outage(s)",
            C::get(&counters.connections),
            C::get(&counters.frames),
            C::get(&counters.bad_frames),
            C::get(&counters.skipped_messages),
            C::get(&counters.acks),
            C::get(&counters.heartbeats),
            C::get(&counters.events),
            stats.batches.load(Ordering::Relaxed),
            stats.outages.load(Ordering::Relaxed),
        ));
    }
    let stored = stats.stored.load(Ordering::Relaxed);
    let duplicates = stats.duplicates.load(Ordering::Relaxed);

    if let Some(s) = &live {
        let (status, notes) = match &fatal {
            None if ended => (SessionStatus::Completed, "the LIVE ended".to_owned()),
            None => (
                SessionStatus::Completed,
                "stopped by Ctrl+C / SIGTERM".to_owned(),
            ),
            Some(f) => (SessionStatus::Aborted, f.to_string()),
        };
        if outcome.left_batches > 0 {
            // Leave the session active: the next start aborts it and stores the spool.
            return Err(Fatal::Other(format!(
                "the database is still unavailable: {} event(s) in {} batch(es) kept in {}; they are stored at the next start",
                outcome.left_events,
                outcome.left_batches,
                spool_path.display()
            )));
        }
        let deadline = Instant::now() + drain_timeout.max(Duration::from_secs(1));
        if let Err(e) = session::finish(&db, s.id, status, Some(notes), deadline).await {
            return Err(fatal.unwrap_or(Fatal::Other(format!(
                "cannot close session {} in {masked}: {e}",
                s.id
            ))));
        }
        console.status(format!(
            "📊 session {} {}: {stored} event(s) stored, {duplicates} duplicate(s) skipped",
            s.id,
            status.as_str()
        ));
    }
    match fatal {
        Some(f) => Err(f),
        None => Ok(()),
    }
}
