//! What the client needs to know: where TikTok and the sign server are, who to watch, and the
//! timings of heartbeats, the watchdog, reconnects and streaks.

use std::time::Duration;

use lifecycle::{Backoff, Jitter};
use url::Url;

use crate::mapping::DEFAULT_STREAK_TIMEOUT;
use crate::session::{Session, SIGN_SERVER_WHITELIST_ENV};
use crate::sign::Secret;

/// TikTok's web origin (live page and api-live).
const DEFAULT_WEB_BASE: &str = "https://www.tiktok.com";
/// TikTok's webcast API (the live check).
const DEFAULT_WEBCAST_BASE: &str = "https://webcast.tiktok.com";
/// The public sign server, the host the peers and the provider's own OpenAPI use today (the
/// older `https://tiktok.eulerstream.com` still works through `sign_server_url`).
pub const DEFAULT_SIGN_SERVER: &str = "https://api.eulerstream.com";
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
    /// Origin of TikTok's webcast API (`/webcast/room/check_alive/`).
    pub webcast_base: Url,
    /// A TikTok login for age-restricted and private rooms (from
    /// [`SESSION_ID_ENV`](crate::session::SESSION_ID_ENV) by default); never logged.
    pub session: Option<Session>,
    /// The sign server host the user allows to receive the login (from
    /// [`SIGN_SERVER_WHITELIST_ENV`]); without it the login goes to TikTok only.
    pub session_sign_server_host: Option<String>,
    /// User-Agent for signing and the WebSocket (they must match).
    pub user_agent: String,
    /// `client` parameter of the sign request.
    pub client_name: String,
    /// Heartbeat period unless the handshake's `Handshake-Options` says otherwise.
    pub heartbeat_interval: Duration,
    /// Reconnect when no data frame (one carrying messages: heartbeat answers and acks do not
    /// count) arrives for this long.
    pub watchdog_timeout: Duration,
    /// Ask TikTok whether the room is still live after this long without data, and again
    /// every this long: a LIVE that ended without a control message ends the session.
    pub alive_check_after: Duration,
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
            webcast_base: parse(DEFAULT_WEBCAST_BASE),
            session: Session::from_env(),
            session_sign_server_host: std::env::var(SIGN_SERVER_WHITELIST_ENV)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            client_name: "ttlive-rust".to_owned(),
            heartbeat_interval: Duration::from_secs(10),
            watchdog_timeout: Duration::from_secs(60),
            alive_check_after: Duration::from_secs(20),
            backoff: RECONNECT_BACKOFF,
            max_attempts: None,
            streak_timeout: DEFAULT_STREAK_TIMEOUT,
            process_initial_messages: true,
            emit_raw_frames: false,
            request_timeout: Duration::from_secs(15),
        }
    }

    /// Points every base URL (sign server, web, API, webcast API) at one server, e.g. the
    /// simulator.
    pub fn with_base_url(mut self, base: &Url) -> Self {
        self.sign_server_url = base.clone();
        self.web_base = base.clone();
        self.api_base = base.clone();
        self.webcast_base = base.clone();
        self
    }

    /// The login to send to the sign server: only when the user named its host, and an error
    /// when they named another host (the peers' rule: a session id is the whole account).
    pub(crate) fn session_for_sign_server(&self) -> Result<Option<Session>, String> {
        let (Some(session), Some(allowed)) = (&self.session, &self.session_sign_server_host) else {
            return Ok(None);
        };
        let host = self.sign_server_url.host_str().unwrap_or_default();
        let host = match self.sign_server_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if allowed.eq_ignore_ascii_case(&host) {
            Ok(Some(session.clone()))
        } else {
            Err(format!(
                "{SIGN_SERVER_WHITELIST_ENV} allows sending the TikTok session to {allowed}, but the sign server is {host}: the session goes to no server you did not name (set it to {host}, or unset it)"
            ))
        }
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
    fn api_key_and_session_never_show_in_debug_output() {
        let mut config = ClientConfig::new("someone");
        config.api_key = Some(Secret::new("sk-very-secret"));
        config.session = Some(Session::new(Secret::new("sess-very-secret"), None));
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }

    #[test]
    fn the_session_goes_to_the_sign_server_only_when_its_host_is_named() {
        let mut config = ClientConfig::new("someone");
        config.session = Some(Session::new(Secret::new("s"), None));
        config.session_sign_server_host = None;
        assert_eq!(config.session_for_sign_server(), Ok(None));
        config.session_sign_server_host = Some("api.eulerstream.com".into());
        assert!(config.session_for_sign_server().expect("named").is_some());
        config.session_sign_server_host = Some("evil.example".into());
        let refused = config.session_for_sign_server().expect_err("another host");
        assert!(refused.contains("api.eulerstream.com"), "{refused}");
    }

    #[test]
    fn the_default_sign_server_is_the_providers_current_host() {
        let config = ClientConfig::new("someone");
        assert_eq!(
            config.sign_server_url.as_str(),
            "https://api.eulerstream.com/"
        );
        assert_eq!(config.streak_timeout, Duration::from_secs(10));
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
