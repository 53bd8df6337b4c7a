//! The state the servers, the player and the handle share: the configuration, the runtime
//! switches, what was observed, and the connection the player delivers to.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use crate::config::{LookupMode, RateLimitHeader, SimulatorConfig};
use crate::duties::Duties;

/// Runtime switches of the simulator, set through the handle.
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) lookup: LookupMode,
    /// The stream is running (until an `end` step is played).
    pub(crate) live: bool,
    /// Statuses the next fetches answer, in order.
    pub(crate) fetch_failures: Vec<u16>,
    /// The wait sent with a 429.
    pub(crate) rate_limit_reset: Duration,
    /// The header a 429 carries it in.
    pub(crate) rate_limit_header: RateLimitHeader,
    /// How many of the next fetches answer the provider's fallback stub.
    pub(crate) stub_fetches: usize,
    /// The room id the sign server answers in `X-Room-Id` (the configured one by default)
    /// and puts in its fetch results.
    pub(crate) signed_room_id: Option<i64>,
    /// A control message with this action goes into the history of every fetch answer.
    pub(crate) end_in_fetch: Option<i32>,
    /// Rejections the next handshakes get: (handshake-status, handshake-msg).
    pub(crate) handshake_rejections: Vec<(u16, String)>,
    /// Tokens issued by /webcast/fetch → used yet?
    pub(crate) tokens: HashMap<String, bool>,
    /// Stop answering anything on the current connection (to trigger the client's watchdog).
    pub(crate) frozen: bool,
    /// Stop sending data on every connection, answering heartbeats still (a LIVE that ended
    /// without a word, behind a socket that stays up).
    pub(crate) data_frozen: bool,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            lookup: LookupMode::default(),
            live: true,
            fetch_failures: Vec::new(),
            rate_limit_reset: Duration::ZERO,
            rate_limit_header: RateLimitHeader::default(),
            stub_fetches: 0,
            signed_room_id: None,
            end_in_fetch: None,
            handshake_rejections: Vec::new(),
            tokens: HashMap::new(),
            frozen: false,
            data_frozen: false,
        }
    }
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

/// The connection the player delivers to: its index in [`Duties::connections`] and its
/// channel.
pub(crate) type Current = (usize, mpsc::Sender<Outbound>);

/// State shared by the servers, the player and the handle.
pub(crate) struct Shared {
    pub(crate) config: SimulatorConfig,
    pub(crate) ws_url: String,
    duties: Mutex<Duties>,
    control: Mutex<Control>,
    current: Mutex<Option<Current>>,
    /// Woken when a connection becomes current.
    pub(crate) connected: Notify,
    pub(crate) next_log_id: AtomicI64,
    /// Steps queued through the handle (or the config) and not yet fully played.
    pub(crate) queued_steps: AtomicUsize,
    /// The last `msg` frame sent and its message count (what
    /// [`Fault::DuplicateFrame`](crate::Fault::DuplicateFrame) sends again).
    last_frame: Mutex<Option<(Vec<u8>, usize)>>,
}

impl Shared {
    pub(crate) fn new(config: SimulatorConfig, ws_url: String) -> Shared {
        Shared {
            config,
            ws_url,
            duties: Mutex::new(Duties::default()),
            control: Mutex::new(Control::default()),
            current: Mutex::new(None),
            connected: Notify::new(),
            next_log_id: AtomicI64::new(1),
            queued_steps: AtomicUsize::new(0),
            last_frame: Mutex::new(None),
        }
    }

    /// The simulated room.
    pub(crate) fn room_id(&self) -> i64 {
        self.config.room_id
    }

    // A panic while a lock was held poisons it; what it guards stays usable (plain records),
    // so every lock recovers rather than spreading the panic to the other tasks.

    pub(crate) fn duties(&self) -> MutexGuard<'_, Duties> {
        self.duties.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn last_frame(&self) -> MutexGuard<'_, Option<(Vec<u8>, usize)>> {
        self.last_frame.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self) -> MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection the player delivers to, if any.
    pub(crate) fn current_connection(&self) -> Option<Current> {
        self.current().clone()
    }

    /// Makes connection `index` the one the player delivers to, and wakes the player.
    pub(crate) fn connect(&self, index: usize, tx: mpsc::Sender<Outbound>) {
        *self.current() = Some((index, tx));
        self.connected.notify_waiters();
    }

    /// Forgets connection `index`, unless another one took its place already.
    pub(crate) fn forget(&self, index: usize) {
        let mut current = self.current();
        if current.as_ref().is_some_and(|(i, _)| *i == index) {
            *current = None;
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("room_id", &self.room_id())
            .finish_non_exhaustive()
    }
}
