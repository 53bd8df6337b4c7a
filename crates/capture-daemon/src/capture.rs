//! One capture, in the order it happens ([`capture_live`]): the [`Target`] is prepared (the
//! database checked, the streamer resolved, the spool locked, sessions orphaned by a killed
//! daemon aborted: see `target`); the [`Capture`] starts its committer and recorder and connects the webcast
//! client; it follows the client's events, turning them into console lines, recorded frames
//! and batches for the committer, until the LIVE ends, the shutdown signal fires or a fatal
//! error happens; then it drains what is buffered and closes the session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use core_models::{CapturedEvent, Db, LiveSession, SessionStatus};
use dispatcher::{Batch, SessionRef};
use lifecycle::Shutdown;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use url::Url;
use webcast::client::ClientCounters;
use webcast::session::Session;
use webcast::{Client, ClientConfig, ClientError, ClientEvent, ConnectionStatus, StopReason};

use crate::cli::Args;
use crate::committer::{CommitTotals, Committer, CommitterConfig, CommitterOutcome};
use crate::console::{Console, Verbosity};
use crate::error::Fatal;
use crate::lease::{Lost, Renewal};
use crate::record::RecordTask;
use crate::session;
use crate::target::Target;
use dispatcher::CaptureRelease;

/// Captures one LIVE until it ends, `shutdown` fires or a fatal error happens. The session
/// ends `completed` (the LIVE ended, or a stop on request) or `aborted` (the error returned);
/// events the database could not take in time stay in the spool for the next start (an
/// error too).
pub async fn capture_live(args: Args, shutdown: Shutdown) -> Result<(), Fatal> {
    let console = Console::new(Verbosity::from_flags(args.quiet, args.verbose));
    let endpoints = Endpoints::parse(&args)?;
    let Some(target) = Target::prepare(&args, console, &shutdown).await? else {
        console.status("stopped while standing by");
        return Ok(());
    };
    let mut capture = Capture::start(&args, target, console)?;
    let client = capture.connect(&args, endpoints, &shutdown)?;
    let stopped = capture.follow(client, &shutdown).await;
    capture.finish(stopped).await
}

/// A capture under way: what the client's events have told so far, and where they go.
struct Capture {
    db: Db,
    console: Console,
    masked: String,
    streamer: String,
    session_name: Option<String>,
    /// How long the end of the capture may wait for the database.
    drain_timeout: Duration,
    spool_path: PathBuf,
    committer: Committer,
    recorder: Option<RecordTask>,
    /// The streamer's capture lease, renewed while the capture runs.
    renewal: Renewal,
    /// The session of the daemon this one took over from, until the room is known.
    inherited: Option<LiveSession>,
    /// The session, once the room is known.
    session: Option<LiveSession>,
    /// The LIVE ended.
    ended: bool,
    /// A LiveEndEvent came (it has its own console line).
    saw_live_end: bool,
}

/// The webcast client, running on its own task.
struct Connection {
    events: mpsc::Receiver<ClientEvent>,
    task: JoinHandle<Result<StopReason, ClientError>>,
    counters: Arc<ClientCounters>,
}

/// How the capture stopped: with a fatal error, or not (the LIVE ended, or a stop on request).
struct Stopped {
    fatal: Option<Fatal>,
    counters: Arc<ClientCounters>,
}

impl Capture {
    /// Starts the committer (which stores what the spool holds first) and the recorder.
    fn start(args: &Args, target: Target, console: Console) -> Result<Capture, Fatal> {
        let drain_timeout = Duration::from_secs(args.drain_timeout);
        let spool_path = target.spool.path().to_path_buf();
        let renewal = Renewal::start(target.db.clone(), &target.streamer, &target.lease);
        let committer = Committer::spawn(
            target.db.clone(),
            target.spool,
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
        Ok(Capture {
            db: target.db,
            console,
            masked: target.masked,
            streamer: target.streamer,
            session_name: args.session_name.clone(),
            drain_timeout,
            spool_path,
            committer,
            recorder,
            renewal,
            inherited: target.inherited,
            session: None,
            ended: false,
            saw_live_end: false,
        })
    }

    /// Starts the webcast client on its task.
    fn connect(
        &self,
        args: &Args,
        endpoints: Endpoints,
        shutdown: &Shutdown,
    ) -> Result<Connection, Fatal> {
        let config = client_config(args, endpoints, &self.streamer, self.recorder.is_some());
        self.console.status(format!(
            "🔌 connecting to @{}'s LIVE (sign server {}) …",
            self.streamer,
            config.sign_server_url.as_str().trim_end_matches('/')
        ));
        let client = Client::new(config).map_err(|e| Fatal::Other(e.to_string()))?;
        let counters = client.counters();
        let (events, task) = client.spawn(64, shutdown.clone());
        Ok(Connection {
            events,
            task,
            counters,
        })
    }

    /// Handles the client's events until it stops, then tells why it stopped.
    async fn follow(&mut self, client: Connection, shutdown: &Shutdown) -> Stopped {
        let Connection {
            events,
            task,
            counters,
        } = client;
        let fatal = match self.pump(events).await {
            // Leaving early must not wait for a client sleeping in its reconnect backoff.
            Err(fatal) => {
                task.abort();
                Some(fatal)
            }
            Ok(()) => self.client_ended(task.await, shutdown),
        };
        Stopped { fatal, counters }
    }

    /// The client's events, one at a time, until its channel closes, one of them is fatal or
    /// another daemon takes the capture over.
    async fn pump(&mut self, mut events: mpsc::Receiver<ClientEvent>) -> Result<(), Fatal> {
        let mut lost = self.renewal.lost();
        while let Some(event) = self.next_event(&mut events, &mut lost).await? {
            match event {
                ClientEvent::Status(status) => self.on_status(status).await?,
                ClientEvent::Events(batch) => self.on_events(batch).await?,
                ClientEvent::RawFrame(frame) => {
                    if let Some(r) = &self.recorder {
                        r.frame(frame);
                    }
                }
                ClientEvent::StreamEnded => {
                    self.ended = true;
                    if !self.saw_live_end {
                        // No control message: TikTok's live check told.
                        self.console
                            .status("🏁 the LIVE ended (TikTok says it is no longer live)");
                    }
                    self.console.detail("   [status] stream ended");
                }
            }
        }
        Ok(())
    }

    /// The client's next event; an error once the lease is lost.
    async fn next_event(
        &self,
        events: &mut mpsc::Receiver<ClientEvent>,
        lost: &mut Lost,
    ) -> Result<Option<ClientEvent>, Fatal> {
        tokio::select! {
            event = events.recv() => Ok(event),
            holder = lost.wait() => Err(Fatal::LeaseLost(format!(
                "{holder} took the capture of @{} over while this daemon could not renew its lease; the session goes on there",
                self.streamer
            ))),
        }
    }

    /// A connection change: the room known (the session starts), or a line for the streamer.
    async fn on_status(&mut self, status: ConnectionStatus) -> Result<(), Fatal> {
        match &status {
            ConnectionStatus::RoomResolved { room_id } if self.session.is_none() => {
                self.open_session(*room_id).await?;
            }
            status => self.tell(status),
        }
        self.console.detail(format!("   [status] {status:?}"));
        Ok(())
    }

    /// Opens this capture's session (once: a reconnect keeps it), or continues the one of the
    /// daemon taken over when it is in the same room.
    async fn open_session(&mut self, room_id: i64) -> Result<(), Fatal> {
        if let Some(s) = self.inherited.take() {
            if s.room_id == room_id.to_string() {
                self.console.status(format!(
                    "🎬 continuing session {} of @{} (room {room_id})",
                    s.id, self.streamer
                ));
                self.session = Some(s);
                return Ok(());
            }
            // A new LIVE since: that session is over.
            let deadline = Instant::now() + self.drain_timeout;
            let note = Some(format!("the LIVE moved to room {room_id}"));
            if let Err(e) =
                session::finish(&self.db, s.id, SessionStatus::Aborted, note, deadline).await
            {
                tracing::warn!(error = %e, session = s.id, "cannot close the session taken over");
            }
        }
        let s = session::start(
            &self.db,
            self.session_name.as_deref(),
            room_id,
            &self.streamer,
        )
        .await
        .map_err(|e| {
            Fatal::Database(format!("cannot start the session in {}: {e}", self.masked))
        })?;
        self.console.status(format!(
            "🎬 session {} started for @{} (room {room_id})",
            s.id, self.streamer
        ));
        self.renewal.set_session(s.id).await;
        self.session = Some(s);
        Ok(())
    }

    /// The streamer's line for a connection change, if it has one.
    fn tell(&self, status: &ConnectionStatus) {
        let console = self.console;
        match status {
            ConnectionStatus::Connected { connection, .. } => {
                if *connection == 1 {
                    console.status(format!("✅ connected to @{}'s LIVE", self.streamer));
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
            ConnectionStatus::RoomResolved { room_id } => {
                console.status(format!(
                    "🔀 the sign server fetched room {room_id}; following it, same session"
                ));
            }
            _ => {}
        }
    }

    /// A frame's events: their lines on the console, and a batch for the committer.
    async fn on_events(&mut self, events: Vec<CapturedEvent>) -> Result<(), Fatal> {
        self.console.events(&events);
        self.saw_live_end |= events
            .iter()
            .any(|e| e.event_type == core_models::EventType::LiveEnd);
        let Some(s) = &self.session else {
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

    /// Why the client stopped, once its channel closed: an error, or nothing fatal (the LIVE
    /// ended, or the signal fired).
    fn client_ended(
        &self,
        joined: Result<Result<StopReason, ClientError>, JoinError>,
        shutdown: &Shutdown,
    ) -> Option<Fatal> {
        match joined {
            Err(e) => Some(Fatal::Other(format!("client task failed: {e}"))),
            Ok(Err(e)) => Some(Fatal::from_client(e)),
            Ok(Ok(StopReason::ReceiverGone)) if !shutdown.is_triggered() && !self.ended => {
                Some(Fatal::Other("the capture loop stopped unexpectedly".into()))
            }
            Ok(Ok(_)) => None,
        }
    }

    /// Lets the lease go (handing the session over to a waiting standby when stopped on
    /// request), stores what is buffered (bounded by --drain-timeout), then closes the
    /// session unless another daemon goes on with it.
    async fn finish(mut self, stopped: Stopped) -> Result<(), Fatal> {
        let handed_to = self.let_lease_go(&stopped).await;
        // The committer's input closes first, so it drains while the recorder flushes.
        let committed = self.committer.close();
        if let Some(r) = self.recorder {
            let frames = r.finish();
            self.console
                .detail(format!("   recorded {frames} frame(s)"));
        }
        let outcome = committed.await.map_err(|e| Fatal::Other(e.to_string()))?;
        self.console
            .detail(protocol_line(&stopped.counters, &outcome.totals));
        if outcome.left_batches > 0 {
            // The session stays active: the next start aborts it and stores the spool.
            return Err(left_in_spool(&outcome, &self.spool_path));
        }
        if let Some(to) = handed_to {
            if let Some(s) = &self.session {
                self.console.status(format!(
                    "🤝 session {} handed over to {to}: {} event(s) stored here, {} duplicate(s) skipped",
                    s.id, outcome.totals.stored, outcome.totals.duplicates,
                ));
            }
            return stopped.fatal.map_or(Ok(()), Err);
        }
        if let Some(s) = &self.session {
            let (status, notes) = session_end(stopped.fatal.as_ref(), self.ended);
            let deadline = Instant::now() + self.drain_timeout.max(Duration::from_secs(1));
            if let Err(e) = session::finish(&self.db, s.id, status, Some(notes), deadline).await {
                return Err(stopped.fatal.unwrap_or(Fatal::Other(format!(
                    "cannot close session {} in {}: {e}",
                    s.id, self.masked
                ))));
            }
            self.console.status(format!(
                "📊 session {} {}: {} event(s) stored, {} duplicate(s) skipped",
                s.id,
                status.as_str(),
                outcome.totals.stored,
                outcome.totals.duplicates,
            ));
        }
        self.renewal.release(CaptureRelease::Close).await;
        stopped.fatal.map_or(Ok(()), Err)
    }

    /// Before the drain, so a standby connects while this daemon stores what it has: a
    /// capture stopped on request hands over to the standby waiting (the session stays
    /// `active` for it), and a lost lease is left alone. Returns who goes on with the
    /// session, if anyone.
    async fn let_lease_go(&mut self, stopped: &Stopped) -> Option<String> {
        if matches!(stopped.fatal, Some(Fatal::LeaseLost(_))) {
            return Some("the daemon that took the capture over".to_owned());
        }
        if stopped.fatal.is_some() || self.ended {
            return None;
        }
        let standby = self.renewal.standby().await?;
        self.renewal.hand_over().await.then_some(standby)
    }
}

/// How the session ends, and the note saying why.
fn session_end(fatal: Option<&Fatal>, ended: bool) -> (SessionStatus, String) {
    match fatal {
        None if ended => (SessionStatus::Completed, "the LIVE ended".to_owned()),
        None => (
            SessionStatus::Completed,
            "stopped on request (Ctrl+C, SIGTERM or the program running it)".to_owned(),
        ),
        Some(f) => (SessionStatus::Aborted, f.to_string()),
    }
}

/// The error of a capture that ends with events still in the spool file.
fn left_in_spool(outcome: &CommitterOutcome, spool: &Path) -> Fatal {
    Fatal::Other(format!(
        "the database is still unavailable: {} event(s) in {} batch(es) kept in {}; they are stored at the next start",
        outcome.left_events,
        outcome.left_batches,
        spool.display()
    ))
}

/// The `--verbose` line of what the protocol and the committer counted.
fn protocol_line(counters: &ClientCounters, totals: &CommitTotals) -> String {
    use ClientCounters as C;
    format!(
        "   protocol: {} connection(s), {} frame(s) ({} unreadable), {} message(s) skipped, {} ack(s), {} heartbeat(s), {} event(s); store: {} frame(s) in {} transaction(s), {} outage(s)",
        C::get(&counters.connections),
        C::get(&counters.frames),
        C::get(&counters.bad_frames),
        C::get(&counters.skipped_messages),
        C::get(&counters.acks),
        C::get(&counters.heartbeats),
        C::get(&counters.events),
        totals.batches,
        totals.commits,
        totals.outages,
    )
}

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

/// The client's settings: the flags, with every TikTok-facing URL given on the command line.
fn client_config(args: &Args, endpoints: Endpoints, streamer: &str, record: bool) -> ClientConfig {
    let mut config = ClientConfig::new(streamer);
    if let Some(sign) = endpoints.sign_server {
        config.sign_server_url = sign;
    }
    if let Some(web) = endpoints.tiktok_web {
        config.web_base = web.clone();
        config.api_base = web.clone();
        config.webcast_base = web;
    }
    config.session = args
        .session_id
        .clone()
        .map(|id| Session::new(id, args.tt_target_idc.clone()));
    config.room_id = args.room_id;
    config.emit_raw_frames = record;
    config.max_attempts = (args.max_attempts > 0).then_some(args.max_attempts);
    config.backoff = config
        .backoff
        .with_initial(Duration::from_millis(args.reconnect_delay_ms.max(1)));
    config
}
