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

mod config;
mod duties;
mod http;
pub mod messages;
mod player;
mod push;
pub mod scenario;
mod script;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifecycle::{Shutdown, Trigger};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{LookupMode, RateLimitHeader, SimulatorConfig};
pub use duties::{
    AckObservation, ConnectionObservation, Duties, FetchObservation, HeartbeatObservation,
    LookupEndpoint, LookupObservation, RequestObservation,
};
pub use scenario::{Fault, Mix, RandomStream, Scenario, Step};

use player::Player;
use state::Shared;

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
    /// Binds the HTTP and WebSocket servers on 127.0.0.1 (ephemeral ports) and starts playing
    /// the configured scenario.
    pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, SimulatorError> {
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let base_url = Url::parse(&format!("http://{http_addr}"))
            .map_err(|_| SimulatorError::Url(http_addr))?;
        let ws_url = format!(
            "ws://{}/webcast/im/ws_proxy/ws_reuse_supplement/",
            ws.local_addr()?
        );
        let shared = Arc::new(Shared::new(config, ws_url));
        let (steps, steps_rx) = mpsc::unbounded_channel();
        // Queued before the player starts, so that it packs the first steps into frames as
        // it would any burst of steps.
        for step in shared.config.scenario.steps.clone() {
            queue(&shared, &steps, step);
        }
        let (stop, shutdown) = Shutdown::new();
        let tasks = vec![
            tokio::spawn(http::serve(http, shared.clone(), shutdown.clone())),
            tokio::spawn(push::serve(ws, shared.clone(), shutdown.clone())),
            tokio::spawn(Player::new(shared.clone(), steps_rx, shutdown).play()),
        ];
        tracing::info!(%base_url, room_id = shared.room_id(), "simulator started");
        Ok(SimulatorHandle {
            shared,
            base_url,
            steps,
            stop,
            tasks,
        })
    }
}

/// Queues a step for the player, counted until played.
fn queue(shared: &Shared, steps: &mpsc::UnboundedSender<Step>, step: Step) {
    shared.queued_steps.fetch_add(1, Ordering::SeqCst);
    if steps.send(step).is_err() {
        // Only after shutdown, when nothing is played any more.
        shared.queued_steps.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running simulator. Dropping it stops it too, without waiting for its tasks.
#[derive(Debug)]
pub struct SimulatorHandle {
    shared: Arc<Shared>,
    base_url: Url,
    steps: mpsc::UnboundedSender<Step>,
    stop: Trigger,
    tasks: Vec<JoinHandle<()>>,
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
        self.shared.room_id()
    }

    /// The streamer handle the lookup knows.
    pub fn username(&self) -> &str {
        &self.shared.config.username
    }

    /// A snapshot of what the client did so far.
    pub fn duties(&self) -> Duties {
        self.shared.duties().clone()
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
        queue(&self.shared, &self.steps, step);
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
        self.shared.control().lookup = mode;
    }

    /// The next `/webcast/fetch` calls answer these HTTP statuses (a 429 comes with the
    /// `RateLimit-Reset` of [`SimulatorHandle::set_rate_limit_reset`], 0 by default), one per
    /// call, before normal service resumes.
    pub fn fail_fetches(&self, statuses: &[u16]) {
        self.shared
            .control()
            .fetch_failures
            .extend_from_slice(statuses);
    }

    /// The `RateLimit-Reset` (seconds until the limit resets) sent with every later 429.
    pub fn set_rate_limit_reset(&self, reset: Duration) {
        self.shared.control().rate_limit_reset = reset;
    }

    /// The header every later 429 carries its wait in (`RateLimit-Reset` by default).
    pub fn set_rate_limit_header(&self, header: RateLimitHeader) {
        self.shared.control().rate_limit_header = header;
    }

    /// The next `count` fetches answer the provider's "fallback stub": a 200 whose push
    /// server is the provider's own relay (`wss://ws-fallback…`), not TikTok's, as the public
    /// sign server did while degraded (2026-09).
    pub fn answer_fallback_stubs(&self, count: usize) {
        self.shared.control().stub_fetches += count;
    }

    /// Every later fetch answers `room_id` in `X-Room-Id` (a room that moved, resolved by the
    /// sign server); the push server then serves that room.
    pub fn answer_room_id(&self, room_id: i64) {
        self.shared.control().signed_room_id = Some(room_id);
    }

    /// The LIVE ends without a word: no control message, no more data, the socket stays open
    /// and heartbeats are still answered; only the live check (`check_alive`) tells.
    pub fn end_silently(&self) {
        let mut control = self.shared.control();
        control.live = false;
        control.data_frozen = true;
    }

    /// Every later `/webcast/fetch` answer carries a control message with `action` (3: the
    /// stream ended, 4: suspended) in its history, as a fetch made just after the LIVE
    /// ended does.
    pub fn end_in_fetch(&self, action: i32) {
        self.shared.control().end_in_fetch = Some(action);
    }

    /// The next WebSocket handshake is answered with HTTP 200 and these `handshake-status` and
    /// `handshake-msg` headers, as TikTok does for DEVICE_BLOCKED.
    pub fn reject_next_handshake(&self, status: u16, message: &str) {
        self.shared
            .control()
            .handshake_rejections
            .push((status, message.to_owned()));
    }

    /// Stops answering anything on the current connection while keeping it open (the client's
    /// watchdog must notice). A new connection unfreezes.
    pub fn freeze(&self) {
        self.shared.control().frozen = true;
    }

    /// Stops the servers and the player, and waits for them.
    pub async fn shutdown(self) {
        self.stop.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
