//! A local TikTok LIVE for demos, benchmarks and tests: a fake sign server
//! (`/webcast/fetch`), the web endpoints of the room lookup (`/@{user}/live`,
//! `/api-live/user/room/`) and a WebSocket push server, all on 127.0.0.1, speaking exactly the
//! protocol of the real thing with `webcast`'s own types and frame builders. It plays a
//! scripted [`Scenario`] or a [`RandomStream`], misbehaves on purpose ([`Fault`]), and records
//! what its client did ([`Duties`]) so tests can check it. The `webcast-sim` binary wraps it for
//! use as a process (see `src/main.rs`: its first stdout line is
//! `webcast-sim sign_server=<url> room_id=<id> username=<handle> ws=<url>`).
//!
//! What this crate must never be: part of the production capture path. It is only ever the
//! peer at the other end of the socket: `ctl demo` and `ctl bench` run it next to the capture,
//! and capture-daemon depends on it for its tests alone.
//!
//! ```
//! use std::time::Duration;
//! use lifecycle::Shutdown;
//! use webcast::{Client, ClientConfig, ClientEvent};
//! use webcast_sim::{Simulator, SimulatorConfig, Step};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! sim.push(Step::Comment { user: "alice".into(), text: "hello 👋".into() });
//! sim.push(Step::End);
//!
//! let mut config = ClientConfig::new(sim.username()).with_base_url(sim.base_url());
//! config.heartbeat_interval = Duration::from_millis(100);
//! let (_running, shutdown) = Shutdown::new(); // never fired: the stream's end stops the client
//! let (mut events, task) = Client::new(config)?.spawn(64, shutdown);
//! let mut comments = Vec::new();
//! while let Some(event) = events.recv().await {
//!     match event {
//!         ClientEvent::Events(batch) => {
//!             comments.extend(batch.into_iter().filter_map(|e| e.data["comment"].as_str().map(str::to_owned)))
//!         }
//!         ClientEvent::StreamEnded => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(comments, ["first! 🥇", "hello 👋"]); // the simulator replays one history comment
//! task.await??;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod messages;
mod player;
pub mod scenario;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use url::Url;

pub use scenario::{Fault, Mix, RandomStream, Scenario, Step};

/// What the simulated room lookup answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LookupMode {
    /// The user is live.
    #[default]
    Live,
    /// The user exists but is offline.
    Offline,
    /// A captcha page instead of the live page, and non-JSON from the API.
    Captcha,
    /// An 18+ room.
    AgeRestricted,
    /// The live page is a captcha (no SIGI_STATE), but api-live answers the live room: the
    /// client must fall back to the API.
    LivePageBlocked,
    /// The live page's SIGI_STATE knows the user but carries no room id (TikTok's page format
    /// changed, as in 2025); api-live answers the live room.
    LivePageWithoutRoom,
}

impl LookupMode {
    /// Whether api-live reports the room as live in this mode (when the stream is running).
    pub(crate) fn api_says_live(self) -> bool {
        matches!(
            self,
            LookupMode::Live | LookupMode::LivePageBlocked | LookupMode::LivePageWithoutRoom
        )
    }
}

/// Which room lookup endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupEndpoint {
    /// `GET /@{user}/live` (SIGI_STATE).
    LivePage,
    /// `GET /api-live/user/room/?uniqueId=…`.
    ApiLive,
}

/// One room lookup request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct LookupObservation {
    /// The endpoint.
    pub endpoint: LookupEndpoint,
    /// The handle asked for (without `@`).
    pub username: String,
    /// When it arrived.
    pub at: Instant,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The room id handed out by the lookup and the sign server.
    pub room_id: i64,
    /// The streamer's handle (other handles are "not found").
    pub username: String,
    /// The API key the sign server requires (401 otherwise); `None` accepts any.
    pub api_key: Option<String>,
    /// What to play once a client is connected; the handle can add steps at any time.
    pub scenario: Scenario,
    /// Generate a random stream whenever the scenario queue is empty.
    pub random: Option<RandomStream>,
    /// Maximum messages packed into one frame.
    pub max_messages_per_frame: usize,
    /// Gzip frame payloads (with the `compress_type` header), as TikTok does on `compress=gzip`.
    pub gzip: bool,
    /// Set `need_ack` on every frame.
    pub need_ack: bool,
    /// Announce a heartbeat interval through the `Handshake-Options` header.
    pub handshake_ping_interval: Option<Duration>,
    /// Put one history comment (always the same msg_id) in every `/webcast/fetch` answer, as
    /// TikTok replays recent comments; a client must not store it twice after a reconnect.
    pub history_in_fetch: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            room_id: 7_300_000_000_000_000_000,
            username: "sim_streamer".into(),
            api_key: None,
            scenario: Scenario::default(),
            random: None,
            max_messages_per_frame: 5,
            gzip: true,
            need_ack: true,
            handshake_ping_interval: None,
            history_in_fetch: true,
        }
    }
}

/// One `/webcast/fetch` request as the sign server saw it.
#[derive(Debug, Clone)]
pub struct FetchObservation {
    /// The `room_id` parameter.
    pub room_id: String,
    /// The `client` parameter.
    pub client: String,
    /// The `user_agent` parameter.
    pub user_agent: String,
    /// Whether `x-api-key` matched (always true without a configured key).
    pub api_key_ok: bool,
    /// The status answered.
    pub status: u16,
    /// When it arrived (gaps between fetches show the client's waits).
    pub at: Instant,
}

/// One WebSocket handshake as the push server saw it.
#[derive(Debug, Clone)]
pub struct ConnectionObservation {
    /// Query parameters of the URL.
    pub query: BTreeMap<String, String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The URL carried a token from a `/webcast/fetch` not used before (a fresh signing).
    pub fresh_token: bool,
    /// Whether the handshake was rejected (HTTP 200 with a handshake-msg).
    pub rejected: bool,
    /// When it happened.
    pub at: Instant,
}

/// One heartbeat received.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatObservation {
    /// Index into [`Duties::connections`].
    pub connection: usize,
    /// `HeartBeatMessage.room_id`.
    pub room_id: i64,
    /// `send_packet_seq_id`.
    pub seq: u64,
    /// When it arrived.
    pub at: Instant,
}

/// One ack received.
#[derive(Debug, Clone)]
pub struct AckObservation {
    /// Index into [`Duties::connections`].
    pub connection: usize,
    /// The acked frame's log_id.
    pub log_id: i64,
    /// The payload (should be that frame's internal_ext).
    pub internal_ext: String,
    /// Whether (log_id, internal_ext) matches a frame we sent with need_ack.
    pub matched: bool,
}

/// Everything the simulator observed of its client, for assertions.
#[derive(Debug, Clone, Default)]
pub struct Duties {
    /// `/webcast/fetch` calls.
    pub fetches: Vec<FetchObservation>,
    /// Room lookup requests, in arrival order.
    pub lookups: Vec<LookupObservation>,
    /// WebSocket handshakes.
    pub connections: Vec<ConnectionObservation>,
    /// `im_enter_room` frames: (connection, room_id).
    pub enter_rooms: Vec<(usize, i64)>,
    /// Heartbeats.
    pub heartbeats: Vec<HeartbeatObservation>,
    /// Acks.
    pub acks: Vec<AckObservation>,
    /// Frames sent with need_ack: (log_id, internal_ext).
    pub awaiting_ack: Vec<(i64, String)>,
    /// `msg` frames sent.
    pub frames_sent: usize,
    /// Messages inside them.
    pub messages_sent: usize,
    /// Frames sent a second time byte for byte ([`Fault::DuplicateFrame`]), counted in
    /// `frames_sent` too.
    pub repeated_frames: usize,
    /// Client frames that were not a push frame or of an unknown type.
    pub unexpected_frames: usize,
}

impl Duties {
    /// Heartbeats of one connection.
    pub fn heartbeats_of(&self, connection: usize) -> Vec<HeartbeatObservation> {
        self.heartbeats
            .iter()
            .filter(|h| h.connection == connection)
            .copied()
            .collect()
    }

    /// Time between consecutive heartbeats of one connection.
    pub fn heartbeat_intervals(&self, connection: usize) -> Vec<Duration> {
        self.heartbeats_of(connection)
            .windows(2)
            .map(|w| w[1].at.duration_since(w[0].at))
            .collect()
    }

    /// Frames sent with need_ack that no matching ack answered yet.
    pub fn unacked(&self) -> Vec<i64> {
        self.awaiting_ack
            .iter()
            .filter(|(log_id, ext)| {
                !self
                    .acks
                    .iter()
                    .any(|a| a.log_id == *log_id && a.internal_ext == *ext)
            })
            .map(|(log_id, _)| *log_id)
            .collect()
    }

    /// A one-line summary (for test failure messages).
    pub fn summary(&self) -> String {
        format!(
            "fetches {}, connections {} ({} accepted), enter-rooms {}, heartbeats {}, acks {} ({} unmatched), frames sent {}, unexpected {}",
            self.fetches.len(),
            self.connections.len(),
            self.accepted_connections(),
            self.enter_rooms.len(),
            self.heartbeats.len(),
            self.acks.len(),
            self.acks.iter().filter(|a| !a.matched).count(),
            self.frames_sent,
            self.unexpected_frames
        )
    }

    /// Number of accepted (not rejected) WebSocket connections.
    pub fn accepted_connections(&self) -> usize {
        self.connections.iter().filter(|c| !c.rejected).count()
    }
}

/// Runtime switches of the simulator.
#[derive(Debug, Default)]
pub(crate) struct Control {
    lookup: LookupMode,
    live: bool,
    /// Statuses the next fetches answer, in order.
    fetch_failures: Vec<u16>,
    /// `RateLimit-Reset` sent with a 429.
    rate_limit_reset: Duration,
    /// A control message with this action goes into the history of every fetch answer.
    end_in_fetch: Option<i32>,
    /// Rejections the next handshakes get: (handshake-status, handshake-msg).
    handshake_rejections: Vec<(u16, String)>,
    /// Tokens issued by /webcast/fetch → used yet?
    tokens: HashMap<String, bool>,
    /// Stop answering anything on the current connection (to trigger the client's watchdog).
    frozen: bool,
}

/// What the player sends through a connection.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A binary message.
    Frame(Vec<u8>),
    /// Close abruptly (no close frame).
    Drop,
    /// Close cleanly (stream end).
    Close,
}

/// State shared by the servers, the player and the handle.
pub(crate) struct Shared {
    config: SimulatorConfig,
    room_id: i64,
    ws_url: String,
    duties: Mutex<Duties>,
    control: Mutex<Control>,
    current: Mutex<Option<(usize, mpsc::Sender<Outbound>)>>,
    connected: Notify,
    next_log_id: AtomicI64,
    /// Steps queued through the handle (or the config) and not yet fully played.
    queued_steps: AtomicUsize,
    /// The last `msg` frame sent and its message count (what [`Fault::DuplicateFrame`]
    /// sends again).
    last_frame: Mutex<Option<(Vec<u8>, usize)>>,
}

impl Shared {
    fn lock_duties(&self) -> MutexGuard<'_, Duties> {
        self.duties.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_current(&self) -> MutexGuard<'_, Option<(usize, mpsc::Sender<Outbound>)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_last_frame(&self) -> MutexGuard<'_, Option<(Vec<u8>, usize)>> {
        self.last_frame.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// Binding a loopback port failed.
    #[error("simulator could not bind 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
    /// The address could not be turned into a URL (should not happen).
    #[error("simulator address {0} is not a valid URL")]
    Url(SocketAddr),
}

/// Entry point: [`Simulator::start`].
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds the HTTP and WebSocket servers on 127.0.0.1 (ephemeral ports) and starts playing.
    pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, SimulatorError> {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let ws_addr = ws.local_addr()?;
        let base_url = Url::parse(&format!("http://{http_addr}"))
            .map_err(|_| SimulatorError::Url(http_addr))?;
        let ws_url = format!("ws://{ws_addr}/webcast/im/ws_proxy/ws_reuse_supplement/");
        let shared = Arc::new(Shared {
            room_id: config.room_id,
            ws_url,
            duties: Mutex::new(Duties::default()),
            control: Mutex::new(Control {
                live: true,
                ..Default::default()
            }),
            current: Mutex::new(None),
            connected: Notify::new(),
            next_log_id: AtomicI64::new(1),
            queued_steps: AtomicUsize::new(0),
            last_frame: Mutex::new(None),
            config,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (steps_tx, steps_rx) = mpsc::unbounded_channel();
        for step in &shared.config.scenario.steps {
            shared.queued_steps.fetch_add(1, Ordering::SeqCst);
            // The receiver is alive: it is in this scope.
            let _ = steps_tx.send(step.clone());
        }
        let tasks = vec![
            tokio::spawn(server::serve_http(
                http,
                shared.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(server::serve_ws(ws, shared.clone(), shutdown_rx.clone())),
            tokio::spawn(player::run(
                shared.clone(),
                steps_rx,
                shared.config.random,
                shutdown_rx,
            )),
        ];
        tracing::info!(%base_url, room_id = shared.room_id, "simulator started");
        Ok(SimulatorHandle {
            shared,
            base_url,
            steps: steps_tx,
            shutdown: shutdown_tx,
            tasks,
        })
    }
}

/// A running simulator. Dropping it without [`SimulatorHandle::shutdown`] leaves its tasks
/// running until the runtime stops.
#[derive(Debug)]
pub struct SimulatorHandle {
    shared: Arc<Shared>,
    base_url: Url,
    steps: mpsc::UnboundedSender<Step>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("room_id", &self.room_id)
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// Base URL of the HTTP server: use it as sign server, web base and API base.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The WebSocket push server URL handed out in fetch results.
    pub fn ws_url(&self) -> &str {
        &self.shared.ws_url
    }

    /// The room id.
    pub fn room_id(&self) -> i64 {
        self.shared.room_id
    }

    /// The streamer handle the lookup knows.
    pub fn username(&self) -> &str {
        &self.shared.config.username
    }

    /// A snapshot of what the client did so far.
    pub fn duties(&self) -> Duties {
        self.shared.lock_duties().clone()
    }

    /// Waits until `condition` holds on the duties, checking every 10 ms; on timeout the error
    /// is a one-line summary of the last snapshot.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&Duties) -> bool,
    ) -> Result<Duties, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let duties = self.duties();
            if condition(&duties) {
                return Ok(duties);
            }
            if Instant::now() >= deadline {
                return Err(duties.summary());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Queues a step (played after the ones already queued).
    pub fn push(&self, step: Step) {
        self.shared.queued_steps.fetch_add(1, Ordering::SeqCst);
        if self.steps.send(step).is_err() {
            // Only after shutdown, when nothing is played any more.
            self.shared.queued_steps.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Steps queued and not yet fully played (a step is played once its frames are handed to
    /// a connection).
    pub fn pending_steps(&self) -> usize {
        self.shared.queued_steps.load(Ordering::SeqCst)
    }

    /// Waits until every queued step was played; false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending_steps() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Queues every step of a scenario.
    pub fn play(&self, scenario: Scenario) {
        for step in scenario.steps {
            self.push(step);
        }
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.push(Step::Fault { fault });
    }

    /// Changes what the room lookup answers.
    pub fn set_lookup(&self, mode: LookupMode) {
        self.shared.lock_control().lookup = mode;
    }

    /// The next `/webcast/fetch` calls answer these HTTP statuses (a 429 comes with the
    /// `RateLimit-Reset` of [`SimulatorHandle::set_rate_limit_reset`], 0 by default), one per
    /// call, before normal service resumes.
    pub fn fail_fetches(&self, statuses: &[u16]) {
        self.shared
            .lock_control()
            .fetch_failures
            .extend_from_slice(statuses);
    }

    /// The `RateLimit-Reset` (seconds until the limit resets) sent with every later 429.
    pub fn set_rate_limit_reset(&self, reset: Duration) {
        self.shared.lock_control().rate_limit_reset = reset;
    }

    /// Every later `/webcast/fetch` answer carries a control message with `action` (3: the
    /// stream ended, 4: suspended) in its history, as a fetch made just after the LIVE
    /// ended does.
    pub fn end_in_fetch(&self, action: i32) {
        self.shared.lock_control().end_in_fetch = Some(action);
    }

    /// The next WebSocket handshake is answered with HTTP 200 and these `handshake-status` and
    /// `handshake-msg` headers, as TikTok does for DEVICE_BLOCKED.
    pub fn reject_next_handshake(&self, status: u16, message: &str) {
        self.shared
            .lock_control()
            .handshake_rejections
            .push((status, message.to_owned()));
    }

    /// Stops answering anything on the current connection while keeping it open (the client's
    /// watchdog must notice). A new connection unfreezes.
    pub fn freeze(&self) {
        self.shared.lock_control().frozen = true;
    }

    /// Stops the servers and the player.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
