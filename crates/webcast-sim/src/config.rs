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
    /// How long after its last step [`Fault::LateRepeatEnd`](crate::Fault::LateRepeatEnd)
    /// sends a streak's end (longer than the client's streak timeout, 10 s, by default).
    pub late_end_after: Duration,
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
            late_end_after: Duration::from_secs(12),
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
    /// TikTok's firewall: a request without a browser's headers (Accept-Language, Referer) and
    /// the `tt-target-idc` cookie gets a captcha; a browser-like one gets the live room.
    BrowserOnly,
    /// The live page is a captcha, and api-live answers the room id with a status it never
    /// used before (neither live nor offline): the client must take the room id.
    ApiUnexpectedStatus,
    /// The live page and api-live are captchas; only the sign server's `/webcast/room_id`
    /// knows the room.
    SignServerOnly,
}

impl LookupMode {
    /// Whether api-live reports the room as live in this mode (when the stream is running).
    pub(crate) fn api_says_live(self) -> bool {
        matches!(
            self,
            LookupMode::Live
                | LookupMode::LivePageBlocked
                | LookupMode::LivePageWithoutRoom
                | LookupMode::BrowserOnly
        )
    }
}

/// Which header a 429 of the simulated sign server carries its wait in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitHeader {
    /// `RateLimit-Reset` (what the public sign server sends).
    #[default]
    RateLimitReset,
    /// `X-RateLimit-Reset`.
    XRateLimitReset,
    /// `Retry-After`.
    RetryAfter,
}

impl RateLimitHeader {
    /// The header's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RateLimitHeader::RateLimitReset => "ratelimit-reset",
            RateLimitHeader::XRateLimitReset => "x-ratelimit-reset",
            RateLimitHeader::RetryAfter => "retry-after",
        }
    }
}
