//! How to start a simulator, and what its room lookup answers.

use std::time::Duration;

use crate::scenario::{RandomStream, Scenario};

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
