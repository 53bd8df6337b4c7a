//! What the client needs to know: where TikTok and the sign server are, who to watch, and the
//! timings of heartbeats, the watchdog, reconnects and streaks.

use std::time::Duration;

use lifecycle::{Backoff, Jitter};
use url::Url;

use crate::sign::Secret;

/// TikTok's web origin (live page and api-live).
const DEFAULT_WEB_BASE: &str = "https://www.tiktok.com";
/// The public sign server.
const DEFAULT_SIGN_SERVER: &str = "https://tiktok.eulerstream.com";
/// The environment variable the sign server API key is read from.
pub const API_KEY_ENV: &str = "WEBCAST_SIGN_API_KEY";
/// A desktop browser User-Agent, used for signing and for the WebSocket alike.
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The reconnect schedule: 2 s doubling up to 60 s, each delay scaled by a random factor in
/// [0.5, 1] so that many clients do not retry in step.
const RECONNECT_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(2), Duration::from_secs(60)).with_jitter(Jitter::Down(0.5));

/// Everything the client needs. Every base URL is configurable so the whole flow can run
/// against the simulator.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The streamer's handle (any form: `@name`, URL, mixed case). Needed unless `room_id` is set.
    pub username: Option<String>,
    /// Skip the lookup and use this room.
    pub room_id: Option<i64>,
    /// Sign server root (the public Euler server by default).
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
    /// Delay between reconnect attempts: 2 s doubling up to 60 s, jittered down by up to half,
    /// by default. A sign server's `RateLimit-Reset` overrides it.
    pub backoff: Backoff,
    /// Give up after this many consecutive failed attempts (`None`: never).
    pub max_attempts: Option<u32>,
    /// Quiet time after which an open gift streak is finalised.
    pub streak_timeout: Duration,
    /// Map the recent history that the signed fetch carries (de-duplicated by msg_id).
    pub process_initial_messages: bool,
    /// Also send every raw WebSocket frame as [`ClientEvent::RawFrame`](super::ClientEvent::RawFrame)
    /// (for recording); the history of each signed fetch comes as a synthetic `msg` frame with
    /// log_id 0.
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
            backoff: RECONNECT_BACKOFF,
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
fn api_key_from_env() -> Option<Secret> {
    std::env::var(API_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_never_shows_in_debug_output() {
        let mut config = ClientConfig::new("someone");
        config.api_key = Some(Secret::new("sk-very-secret"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-very-secret"));
        assert!(shown.contains("Secret(***)"));
    }

    #[test]
    fn reconnects_back_off_from_2_to_60_seconds_jittered_down() {
        let backoff = ClientConfig::new("someone").backoff;
        assert_eq!(backoff.initial(), Duration::from_secs(2));
        assert_eq!(backoff.max(), Duration::from_secs(60));
        for failures in 1..=10 {
            let base = Duration::from_secs(2 << (failures - 1).min(5)).min(backoff.max());
            let delay = backoff.delay(failures);
            assert!(delay <= base && delay >= base / 2, "{failures}: {delay:?}");
        }
    }
}
