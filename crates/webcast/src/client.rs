//! The LIVE client: room lookup, signed fetch, WebSocket with enter-room, heartbeats and acks,
//! decoding and mapping, reconnects with backoff, a silence watchdog, and a clean stop on
//! stream end or shutdown. Events come out over an mpsc channel, one batch per frame.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{CapturedEvent, EventType};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{COOKIE, USER_AGENT};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::decode::decode_messages;
use crate::frame::{self, PAYLOAD_MSG};
use crate::mapping::{Mapper, MapperConfig};
use crate::proto::ProtoMessageFetchResult;
use crate::room::{normalize_username, RoomError, RoomLookup};
use crate::sign::{Secret, SignClient, SignError};

/// TikTok's web origin (live page and api-live).
pub const DEFAULT_WEB_BASE: &str = "https://www.tiktok.com";
/// The public sign server.
pub const DEFAULT_SIGN_SERVER: &str = "https://tiktok.eulerstream.com";
/// The environment variable the sign server API key is read from.
pub const API_KEY_ENV: &str = "WEBCAST_SIGN_API_KEY";
/// A desktop browser User-Agent, used for signing and for the WebSocket alike.
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before retry number `failures` (1-based): `initial × 2^(failures-1)`, capped,
    /// then scaled by a random factor in [0.5, 1] so that many clients do not retry in step.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let base = self.initial.saturating_mul(1 << exp).min(self.max);
        base.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// Everything the client needs. Every base URL is configurable so the whole flow can run
/// against the simulator.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The streamer's handle (any form: `@name`, URL, mixed case). Needed unless `room_id` is set.
    pub username: Option<String>,
    /// Skip the lookup and use this room.
    pub room_id: Option<i64>,
    /// Sign server root, e.g. [`DEFAULT_SIGN_SERVER`].
    pub sign_server_url: Url,
    /// API key for the sign server (sent as `x-api-key`, never logged).
    pub api_key: Option<Secret>,
    /// Origin of the live page (`/@{user}/live`).
    pub web_base: Url,
    /// Origin of the api-live JSON (`/api-live/user/room/`).
    pub api_base: Url,
    /// User-Agent for signing and the WebSocket (they must match).
    pub user_agent: String,
    /// `client` parameter of the sign request.
    pub client_name: String,
    /// Heartbeat period unless the handshake's `Handshake-Options` says otherwise.
    pub heartbeat_interval: Duration,
    /// Reconnect when no frame arrives for this long.
    pub watchdog_timeout: Duration,
    /// Delay between reconnect attempts.
    pub backoff: Backoff,
    /// Give up after this many consecutive failed attempts (`None`: never).
    pub max_attempts: Option<u32>,
    /// Quiet time after which an open gift streak is finalised.
    pub streak_timeout: Duration,
    /// Map the recent history that the signed fetch carries (de-duplicated by msg_id).
    pub process_initial_messages: bool,
    /// Also send every raw WebSocket frame as [`ClientEvent::RawFrame`] (for recording); the
    /// history of each signed fetch comes as a synthetic `msg` frame with log_id 0.
    pub emit_raw_frames: bool,
    /// Timeout of each HTTP request and of the WebSocket handshake.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration for `username` with production URLs and defaults; the API key is read
    /// from [`API_KEY_ENV`] if set.
    pub fn new(username: impl Into<String>) -> Self {
        // Only ever called with the constant URLs above, which are valid.
        let parse = |s: &str| Url::parse(s).expect("constant URL is valid");
        Self {
            username: Some(username.into()),
            room_id: None,
            sign_server_url: parse(DEFAULT_SIGN_SERVER),
            api_key: api_key_from_env(),
            web_base: parse(DEFAULT_WEB_BASE),
            api_base: parse(DEFAULT_WEB_BASE),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            client_name: "ttlive-rust".to_owned(),
            heartbeat_interval: Duration::from_secs(10),
            watchdog_timeout: Duration::from_secs(60),
            backoff: Backoff::default(),
            max_attempts: None,
            streak_timeout: Duration::from_secs(5),
            process_initial_messages: true,
            emit_raw_frames: false,
            request_timeout: Duration::from_secs(15),
        }
    }

    /// Points every base URL (sign server, web, API) at one server, e.g. the simulator.
    pub fn with_base_url(mut self, base: &Url) -> Self {
        self.sign_server_url = base.clone();
        self.web_base = base.clone();
        self.api_base = base.clone();
        self
    }
}

/// The API key from [`API_KEY_ENV`], if set and not empty.
pub fn api_key_from_env() -> Option<Secret> {
    std::env::var(API_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(Secret::new)
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A connection state change.
    Status(ConnectionStatus),
    /// The events of one frame (or of the initial fetch, or streaks closed by timeout), in
    /// order. Store one batch per transaction.
    Events(Vec<CapturedEvent>),
    /// A raw WebSocket binary frame, when `emit_raw_frames` is on.
    RawFrame(Vec<u8>),
    /// The stream ended (control message); the client stops after this.
    StreamEnded,
}

/// Connection state changes.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionStatus {
    /// The room id is known.
    RoomResolved {
        /// The room.
        room_id: i64,
    },
    /// Signing and opening the WebSocket (attempt counts from 1 for each (re)connect).
    Connecting {
        /// Attempt number since the last successful connection.
        attempt: u32,
    },
    /// The WebSocket is open and enter-room was sent.
    Connected {
        /// The room.
        room_id: i64,
        /// Connection number since start (1 = first).
        connection: u64,
    },
    /// TikTok answered the handshake with HTTP 200 instead of 101.
    Rejected {
        /// `handshake-status`, e.g. 415.
        status: String,
        /// `handshake-msg`, e.g. `DEVICE_BLOCKED`.
        message: String,
    },
    /// The connection (or the attempt) ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Waiting before the next attempt.
    Retrying {
        /// How long.
        after: Duration,
    },
}

/// Why [`Client::run`] returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The LIVE ended.
    StreamEnded,
    /// The shutdown future completed.
    Shutdown,
    /// The event receiver was dropped.
    ReceiverGone,
}

/// Why [`Client::run`] failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither a username nor a room id was given.
    #[error("no TikTok username and no room id given: pass a username (or --room-id)")]
    NoTarget,
    /// The room lookup failed.
    #[error(transparent)]
    Room(#[from] RoomError),
    /// The sign server refused in a way retrying cannot fix.
    #[error(transparent)]
    Sign(SignError),
    /// Too many consecutive failures.
    #[error("giving up after {attempts} failed connection attempts; last error: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// What kind of failure the last attempt was (callers classify on this, not on the
        /// text: earlier attempts may have failed differently).
        cause: AttemptFailure,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(reqwest::Error),
}

/// The kind of a failed connection attempt, as reported in [`ClientError::GaveUp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// The sign server failed; `status` is its HTTP status when it answered one.
    SignServer {
        /// 401, 402, 403, 429, 5xx … (`None`: transport error, empty or unreadable answer).
        status: Option<u16>,
    },
    /// TikTok answered the WebSocket handshake with HTTP 200 (DEVICE_BLOCKED and the like).
    Rejected,
    /// Anything else: the WebSocket could not be opened, or the connection was lost.
    Other,
}

/// Counters of what the client has seen, readable while it runs.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// WebSocket binary frames received.
    pub frames: AtomicU64,
    /// Frames that could not be opened (garbage, truncated, bad gzip).
    pub bad_frames: AtomicU64,
    /// Messages skipped inside good frames (unknown method or undecodable).
    pub skipped_messages: AtomicU64,
    /// Events emitted.
    pub events: AtomicU64,
    /// Acks sent.
    pub acks: AtomicU64,
    /// Heartbeats sent.
    pub heartbeats: AtomicU64,
    /// WebSocket connections opened.
    pub connections: AtomicU64,
}

impl ClientCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The client. Build with [`Client::new`], then [`Client::run`] or [`Client::spawn`].
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    counters: Arc<ClientCounters>,
}

/// How one connection attempt ended.
enum SessionEnd {
    StreamEnded,
    ReceiverGone,
    /// Was connected, then lost it.
    Closed(String),
    /// Never got connected.
    Failed(AttemptError),
}

enum AttemptError {
    Sign(SignError),
    Rejected { status: String, message: String },
    Other(String),
}

impl AttemptError {
    fn kind(&self) -> AttemptFailure {
        match self {
            Self::Sign(e) => AttemptFailure::SignServer { status: e.status() },
            Self::Rejected { .. } => AttemptFailure::Rejected,
            Self::Other(_) => AttemptFailure::Other,
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sign(e) => write!(f, "{e}"),
            Self::Rejected { status, message } => write!(
                f,
                "WebSocket handshake rejected by TikTok: {status} {message}"
            ),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// Aborts a task when dropped, so no heartbeat outlives its connection.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Client {
    /// A client for `config`.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.request_timeout)
            .build()
            .map_err(ClientError::Http)?;
        Ok(Self {
            config,
            http,
            counters: Arc::new(ClientCounters::default()),
        })
    }

    /// Live counters (shared; keep a clone before calling `run`).
    pub fn counters(&self) -> Arc<ClientCounters> {
        self.counters.clone()
    }

    /// Runs `run` on a new task with a channel of `capacity`; returns the receiver and the task.
    pub fn spawn(
        self,
        capacity: usize,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (
        mpsc::Receiver<ClientEvent>,
        JoinHandle<Result<StopReason, ClientError>>,
    ) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(async move { self.run(tx, shutdown).await });
        (rx, task)
    }

    /// Connects and keeps connected until the stream ends, `shutdown` completes or the
    /// receiver is dropped. Fatal errors (bad username, offline, invalid API key, too many
    /// failures) are returned; everything else is retried with backoff and a fresh signing.
    pub async fn run(
        self,
        events: mpsc::Sender<ClientEvent>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<StopReason, ClientError> {
        tokio::pin!(shutdown);
        let room_id = tokio::select! {
            id = self.resolve_room() => id?,
            () = &mut shutdown => return Ok(StopReason::Shutdown),
        };
        if !send(
            &events,
            ClientEvent::Status(ConnectionStatus::RoomResolved { room_id }),
        )
        .await
        {
            return Ok(StopReason::ReceiverGone);
        }
        let sign = SignClient::new(
            self.http.clone(),
            self.config.sign_server_url.clone(),
            self.config.api_key.clone(),
            self.config.client_name.clone(),
            self.config.user_agent.clone(),
        );
        let mut mapper = Mapper::new(MapperConfig {
            streak_timeout: self.config.streak_timeout,
            ..MapperConfig::default()
        });
        let mut failures: u32 = 0;
        loop {
            let attempt = failures + 1;
            let end = tokio::select! {
                end = self.session(room_id, &sign, &mut mapper, &events, attempt) => end,
                () = &mut shutdown => {
                    let closing = mapper.finish_streaks(Instant::now());
                    self.emit_events(&events, closing).await;
                    return Ok(StopReason::Shutdown);
                }
            };
            let (reason, retry_after, cause) = match end {
                SessionEnd::StreamEnded => {
                    send(&events, ClientEvent::StreamEnded).await;
                    return Ok(StopReason::StreamEnded);
                }
                SessionEnd::ReceiverGone => return Ok(StopReason::ReceiverGone),
                SessionEnd::Closed(reason) => {
                    failures = 1;
                    (reason, None, AttemptFailure::Other)
                }
                SessionEnd::Failed(AttemptError::Sign(e)) if e.is_fatal() => {
                    return Err(ClientError::Sign(e))
                }
                SessionEnd::Failed(error) => {
                    failures += 1;
                    let retry_after = match &error {
                        AttemptError::Sign(e) => e.retry_after(),
                        _ => None,
                    };
                    if let AttemptError::Rejected { status, message } = &error {
                        let status = ConnectionStatus::Rejected {
                            status: status.clone(),
                            message: message.clone(),
                        };
                        send(&events, ClientEvent::Status(status)).await;
                    }
                    (error.to_string(), retry_after, error.kind())
                }
            };
            tracing::warn!(%reason, failures, "webcast connection lost");
            if let Some(max) = self.config.max_attempts {
                if failures >= max {
                    return Err(ClientError::GaveUp {
                        attempts: failures,
                        last: reason,
                        cause,
                    });
                }
            }
            let delay = retry_after.unwrap_or_else(|| self.config.backoff.delay(failures));
            let statuses = [
                ConnectionStatus::Disconnected { reason },
                ConnectionStatus::Retrying { after: delay },
            ];
            for status in statuses {
                if !send(&events, ClientEvent::Status(status)).await {
                    return Ok(StopReason::ReceiverGone);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut shutdown => {
                    let closing = mapper.finish_streaks(Instant::now());
                    self.emit_events(&events, closing).await;
                    return Ok(StopReason::Shutdown);
                }
            }
        }
    }

    async fn resolve_room(&self) -> Result<i64, ClientError> {
        if let Some(id) = self.config.room_id {
            return Ok(id);
        }
        let raw = self
            .config
            .username
            .as_deref()
            .ok_or(ClientError::NoTarget)?;
        let username = normalize_username(raw)?;
        let lookup = RoomLookup::new(
            self.http.clone(),
            self.config.web_base.clone(),
            self.config.api_base.clone(),
        );
        let room_id = lookup.room_id(&username).await?;
        tracing::info!(%username, room_id, "room resolved");
        Ok(room_id)
    }

    async fn emit_events(
        &self,
        events: &mpsc::Sender<ClientEvent>,
        batch: Vec<CapturedEvent>,
    ) -> bool {
        if batch.is_empty() {
            return true;
        }
        ClientCounters::add(&self.counters.events, batch.len() as u64);
        send(events, ClientEvent::Events(batch)).await
    }

    /// One signed fetch + one WebSocket connection, until it ends.
    async fn session(
        &self,
        room_id: i64,
        sign: &SignClient,
        mapper: &mut Mapper,
        events: &mpsc::Sender<ClientEvent>,
        attempt: u32,
    ) -> SessionEnd {
        if !send(
            events,
            ClientEvent::Status(ConnectionStatus::Connecting { attempt }),
        )
        .await
        {
            return SessionEnd::ReceiverGone;
        }
        let signed = match sign.fetch(room_id).await {
            Ok(s) => s,
            Err(e) => return SessionEnd::Failed(AttemptError::Sign(e)),
        };
        if self.config.process_initial_messages {
            if self.config.emit_raw_frames && !signed.result.messages.is_empty() {
                // The fetch's history came over HTTP, not the socket: hand it to recorders
                // as a synthetic msg frame (log_id 0, no ack) so a replay sees it too.
                let history = ProtoMessageFetchResult {
                    messages: signed.result.messages.clone(),
                    now: signed.result.now,
                    ..Default::default()
                };
                let raw = frame::msg_frame(0, &history, false);
                if !send(events, ClientEvent::RawFrame(raw)).await {
                    return SessionEnd::ReceiverGone;
                }
            }
            let batch = decode_messages(&signed.result);
            let now = Instant::now();
            let mut mapped = mapper.map_batch(&batch, now);
            // A fetch made after the LIVE ended carries the end in its history: there is no
            // stream to connect to, so stop here exactly as for an end in a frame.
            let ended = close_streaks_before_end(mapper, &mut mapped, now);
            if !self.emit_events(events, mapped).await {
                return SessionEnd::ReceiverGone;
            }
            if ended {
                return SessionEnd::StreamEnded;
            }
        }
        let url = match ws_url(&signed.result, room_id, self.config.heartbeat_interval) {
            Ok(url) => url,
            Err(e) => return SessionEnd::Failed(AttemptError::Other(e)),
        };
        let mut request = match url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => {
                return SessionEnd::Failed(AttemptError::Other(format!("bad WebSocket URL: {e}")))
            }
        };
        let cookies = format!(
            "{}; tt-target-idc=useast1a",
            signed.cookies.trim_end_matches([';', ' '])
        );
        for (name, value) in [
            (USER_AGENT, self.config.user_agent.as_str()),
            (COOKIE, cookies.as_str()),
        ] {
            match HeaderValue::from_str(value) {
                Ok(v) => {
                    request.headers_mut().insert(name, v);
                }
                Err(_) => {
                    return SessionEnd::Failed(AttemptError::Other(format!(
                        "{name} is not a valid header value"
                    )))
                }
            }
        }
        let connect = tokio::time::timeout(
            self.config.request_timeout,
            tokio_tungstenite::connect_async(request),
        );
        let connected = match connect.await {
            Ok(result) => result,
            Err(_) => {
                return SessionEnd::Failed(AttemptError::Other(format!(
                    "WebSocket handshake timed out after {:?}",
                    self.config.request_timeout
                )))
            }
        };
        let (ws, response) = match connected {
            Ok(ok) => ok,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let header = |n: &str| {
                    response
                        .headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                if response.status().as_u16() == 200 {
                    return SessionEnd::Failed(AttemptError::Rejected {
                        status: header("handshake-status"),
                        message: header("handshake-msg"),
                    });
                }
                return SessionEnd::Failed(AttemptError::Other(format!(
                    "WebSocket handshake answered HTTP {}",
                    response.status()
                )));
            }
            Err(e) => {
                return SessionEnd::Failed(AttemptError::Other(format!(
                    "WebSocket connect failed: {e}"
                )))
            }
        };
        let heartbeat_every = response
            .headers()
            .get("handshake-options")
            .and_then(|v| v.to_str().ok())
            .and_then(ping_interval)
            .unwrap_or(self.config.heartbeat_interval);
        let connection = self.counters.connections.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(room_id, connection, ?heartbeat_every, "webcast connected");

        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
        // The writer owns the sink; heartbeats and acks go through the channel, so a slow
        // consumer of events never delays a heartbeat.
        let writer = AbortOnDrop(tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if let Err(e) = sink.send(Message::Binary(bytes.into())).await {
                    return format!("WebSocket write failed: {e}");
                }
            }
            "writer stopped".to_owned()
        }));
        if out_tx.send(frame::enter_room_frame(room_id)).await.is_err() {
            return SessionEnd::Closed("connection closed before enter-room".into());
        }
        let heartbeat_task = {
            let out = out_tx.clone();
            let counters = self.counters.clone();
            AbortOnDrop(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(
                    tokio::time::Instant::now() + heartbeat_every,
                    heartbeat_every,
                );
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut seq: u64 = 0;
                loop {
                    tick.tick().await;
                    seq += 1;
                    if out
                        .send(frame::heartbeat_frame(room_id, seq))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    ClientCounters::add(&counters.heartbeats, 1);
                }
            }))
        };
        if !send(
            events,
            ClientEvent::Status(ConnectionStatus::Connected {
                room_id,
                connection,
            }),
        )
        .await
        {
            return SessionEnd::ReceiverGone;
        }
        let mut writer = writer;
        let streak_every = (self.config.streak_timeout / 2).max(Duration::from_millis(10));
        let mut streak_tick = tokio::time::interval(streak_every);
        streak_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The watchdog deadline moves only when a frame arrives, not when another branch of
        // the select (streak expiry) wakes the loop.
        let mut silent_until = tokio::time::Instant::now() + self.config.watchdog_timeout;
        loop {
            tokio::select! {
                next = stream.next() => {
                    let message = match next {
                        None => return SessionEnd::Closed("connection closed".into()),
                        Some(Err(e)) => return SessionEnd::Closed(format!("WebSocket error: {e}")),
                        Some(Ok(m)) => m,
                    };
                    silent_until = tokio::time::Instant::now() + self.config.watchdog_timeout;
                    match message {
                        Message::Binary(bytes) => {
                            match self.on_frame(&bytes, mapper, events, &out_tx).await {
                                FrameOutcome::Continue => {}
                                FrameOutcome::StreamEnded => {
                                    // Let the writer flush the last ack before the socket goes.
                                    drop(heartbeat_task);
                                    drop(out_tx);
                                    let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer.0).await;
                                    return SessionEnd::StreamEnded;
                                }
                                FrameOutcome::ReceiverGone => return SessionEnd::ReceiverGone,
                                FrameOutcome::WriterGone => return SessionEnd::Closed("connection closed while acking".into()),
                            }
                        }
                        Message::Close(close) => {
                            let reason = close.map_or_else(
                                || "closed by server".to_owned(),
                                |c| format!("closed by server: {} {}", c.code, c.reason),
                            );
                            return SessionEnd::Closed(reason);
                        }
                        // Pings are answered by tungstenite; a missing pong is never fatal
                        // (TikTok does not send pongs).
                        _ => {}
                    }
                }
                () = tokio::time::sleep_until(silent_until) => {
                    return SessionEnd::Closed(format!("no frame for {:?} (watchdog)", self.config.watchdog_timeout));
                }
                _ = streak_tick.tick() => {
                    let expired = mapper.expire_streaks(Instant::now());
                    if !self.emit_events(events, expired).await {
                        return SessionEnd::ReceiverGone;
                    }
                }
                result = &mut writer.0 => {
                    let reason = result.unwrap_or_else(|e| format!("writer task failed: {e}"));
                    return SessionEnd::Closed(reason);
                }
            }
        }
    }

    async fn on_frame(
        &self,
        bytes: &[u8],
        mapper: &mut Mapper,
        events: &mpsc::Sender<ClientEvent>,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> FrameOutcome {
        let received_at = chrono::Utc::now();
        ClientCounters::add(&self.counters.frames, 1);
        if self.config.emit_raw_frames && !send(events, ClientEvent::RawFrame(bytes.to_vec())).await
        {
            return FrameOutcome::ReceiverGone;
        }
        let push = match frame::decode_push_frame(bytes) {
            Ok(f) => f,
            Err(error) => {
                ClientCounters::add(&self.counters.bad_frames, 1);
                tracing::debug!(%error, "bad frame skipped");
                return FrameOutcome::Continue;
            }
        };
        if push.payload_type != PAYLOAD_MSG {
            return FrameOutcome::Continue;
        }
        let result = match frame::decode_fetch_result(&push) {
            Ok(r) => r,
            Err(error) => {
                ClientCounters::add(&self.counters.bad_frames, 1);
                tracing::debug!(%error, "bad msg frame skipped");
                return FrameOutcome::Continue;
            }
        };
        let mut writer_gone = false;
        if result.need_ack {
            // Python sends "-" for an empty internal_ext; an empty payload is refused.
            let ext = if result.internal_ext.is_empty() {
                "-"
            } else {
                result.internal_ext.as_str()
            };
            if out.send(frame::ack_frame(push.log_id, ext)).await.is_ok() {
                ClientCounters::add(&self.counters.acks, 1);
            } else {
                // The connection died under us, but this frame arrived whole: its events
                // are emitted before reconnecting, or they would be lost.
                writer_gone = true;
            }
        }
        let batch = decode_messages(&result);
        let skipped = batch.stats.unknown + batch.stats.undecodable;
        if skipped > 0 {
            ClientCounters::add(&self.counters.skipped_messages, skipped as u64);
        }
        let now = Instant::now();
        let mut mapped = mapper.map_batch(&batch, now);
        for event in &mut mapped {
            event.received_at = Some(received_at);
        }
        let ended = close_streaks_before_end(mapper, &mut mapped, now);
        if !self.emit_events(events, mapped).await {
            return FrameOutcome::ReceiverGone;
        }
        if ended {
            FrameOutcome::StreamEnded
        } else if writer_gone {
            FrameOutcome::WriterGone
        } else {
            FrameOutcome::Continue
        }
    }
}

/// Whether `mapped` holds a LiveEnd event; if so, the open streaks are finalised and their
/// closing events put just before it, in the same batch.
fn close_streaks_before_end(
    mapper: &mut Mapper,
    mapped: &mut Vec<CapturedEvent>,
    now: Instant,
) -> bool {
    let Some(at) = mapped
        .iter()
        .position(|e| e.event_type == EventType::LiveEnd)
    else {
        return false;
    };
    let closing = mapper.finish_streaks(now);
    mapped.splice(at..at, closing);
    true
}

enum FrameOutcome {
    Continue,
    StreamEnded,
    ReceiverGone,
    WriterGone,
}

async fn send(events: &mpsc::Sender<ClientEvent>, event: ClientEvent) -> bool {
    events.send(event).await.is_ok()
}

/// `ping-interval` (seconds) from a `Handshake-Options` header such as `ping-interval=10; x=y`.
pub fn ping_interval(options: &str) -> Option<Duration> {
    options
        .split([';', ','])
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("ping-interval"))
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
        .map(Duration::from_secs_f64)
}

/// Default WebSocket query parameters of the web client (reference §1.4), added unless the
/// route params already carry them.
const WS_DEFAULT_PARAMS: &[(&str, &str)] = &[
    ("aid", "1988"),
    ("app_name", "tiktok_web"),
    ("app_language", "en"),
    ("browser_language", "en-US"),
    ("browser_platform", "Win32"),
    ("browser_name", "Mozilla"),
    ("browser_online", "true"),
    ("cookie_enabled", "true"),
    ("device_platform", "web"),
    ("identity", "audience"),
    ("live_id", "12"),
    ("sup_ws_ds_opt", "1"),
    ("update_version_code", "2.0.0"),
    ("version_code", "180800"),
    ("client_enter", "1"),
    ("did_rule", "3"),
    ("resp_content_type", "protobuf"),
    ("history_comment_count", "6"),
];

/// The WebSocket URL: `push_server`, the non-empty route params, the web client's defaults,
/// room_id, cursor, internal_ext and `compress=gzip`; then `version_code=270000` appended
/// again as the production web client does.
pub fn ws_url(
    result: &ProtoMessageFetchResult,
    room_id: i64,
    heartbeat: Duration,
) -> Result<Url, String> {
    let mut url = Url::parse(&result.push_server)
        .map_err(|e| format!("push_server {:?} is not a URL: {e}", result.push_server))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!(
            "push_server {:?} is not a ws:// or wss:// URL",
            result.push_server
        ));
    }
    let mut route: Vec<(&String, &String)> = result
        .route_params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    route.sort();
    let has = |key: &str| route.iter().any(|(k, _)| k.as_str() == key);
    let heartbeat_ms = heartbeat.as_millis().to_string();
    let room = room_id.to_string();
    let extra: Vec<(&str, &str)> = WS_DEFAULT_PARAMS
        .iter()
        .copied()
        .chain([
            ("heartbeat_duration", heartbeat_ms.as_str()),
            ("room_id", room.as_str()),
            ("compress", "gzip"),
        ])
        .chain([
            ("cursor", result.cursor.as_str()),
            ("internal_ext", result.internal_ext.as_str()),
        ])
        .filter(|(k, v)| !v.is_empty() && !has(k))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in &route {
            query.append_pair(k, v);
        }
        for (k, v) in extra {
            query.append_pair(k, v);
        }
        query.append_pair("version_code", "270000");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(b.delay(30) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn api_key_never_shows_in_debug_output() {
        let mut config = ClientConfig::new("someone");
        config.api_key = Some(Secret::new("sk-very-secret"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-very-secret"));
        assert!(shown.contains("Secret(***)"));
    }

    #[test]
    fn ping_interval_parsing() {
        assert_eq!(
            ping_interval("ping-interval=10"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            ping_interval("a=b; ping-interval=0.5"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(ping_interval("ping-interval=nope"), None);
        assert_eq!(ping_interval("other=1"), None);
    }

    #[test]
    fn ws_url_has_route_params_defaults_and_skips_empty() {
        let mut result = ProtoMessageFetchResult {
            push_server: "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/".into(),
            cursor: "c1".into(),
            internal_ext: "ie".into(),
            ..Default::default()
        };
        result.route_params.insert("imprp".into(), String::new());
        result.route_params.insert("wrss".into(), "abc".into());
        result
            .route_params
            .insert("cursor".into(), "from-route".into());
        let url = ws_url(&result, 42, Duration::from_secs(10)).expect("url");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            pairs
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("wrss"), vec!["abc"]);
        assert!(get("imprp").is_empty());
        assert_eq!(get("cursor"), vec!["from-route"]);
        assert_eq!(get("internal_ext"), vec!["ie"]);
        assert_eq!(get("room_id"), vec!["42"]);
        assert_eq!(get("compress"), vec!["gzip"]);
        assert_eq!(get("version_code"), vec!["180800", "270000"]);
        assert!(ws_url(
            &ProtoMessageFetchResult {
                push_server: "http://x".into(),
                ..Default::default()
            },
            1,
            Duration::from_secs(1)
        )
        .is_err());
    }
}
