//! Signing (reference §1.3): the sign server performs TikTok's `/webcast/im/fetch` and answers
//! the raw [`ProtoMessageFetchResult`] plus the cookies for the WebSocket in `X-Set-TT-Cookie`
//! and the room it fetched in `X-Room-Id`. A signed URL expires in about 30 s, so every
//! (re)connect fetches afresh. The same server can also tell a user's room id (a paid feature
//! of the public one), the room lookup's last resort.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::Value;
use url::Url;

use crate::frame::{decode_fetch_body, FrameError};
use crate::proto::ProtoMessageFetchResult;
use crate::session::Session;

/// Header carrying the cookies to send on the WebSocket handshake.
const COOKIE_HEADER: &str = "x-set-tt-cookie";
/// Header carrying the room the sign server fetched (it may resolve a moved room).
const ROOM_ID_HEADER: &str = "x-room-id";
/// Header carrying the API key.
const API_KEY_HEADER: &str = "x-api-key";
/// Header carrying the login's cookies to the sign server (its OpenAPI's current way).
const SESSION_COOKIE_HEADER: &str = "x-cookie-header";
/// Longest wait a 429 can impose.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);
/// Wait used when a 429 says nothing usable about when to come back.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The headers a 429 may carry its wait in: the standard one, the IETF draft's, and the
/// older `X-` form some proxies answer.
const RATE_LIMIT_HEADERS: [&str; 3] = ["retry-after", "ratelimit-reset", "x-ratelimit-reset"];

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a successful signed fetch gives.
#[derive(Debug, Clone)]
pub(crate) struct SignedFetch {
    /// The fetch result: push server, route params, cursor, internal_ext, first messages.
    pub result: ProtoMessageFetchResult,
    /// Cookie string (`k=v; k2=v2`) for the WebSocket handshake.
    pub cookies: String,
    /// The room the sign server fetched (`X-Room-Id`), when it said.
    pub room_id: Option<i64>,
}

/// Why signing failed. A rejected API key (401) or a paid-plan request (402) is fatal:
/// retrying cannot help; anything else is retried.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// 401.
    #[error("the sign server rejected the API key (HTTP 401): {message}; check the API key environment variable")]
    InvalidApiKey {
        /// The server's message.
        message: String,
    },
    /// 402.
    #[error("the sign server requires a paid plan for this request (HTTP 402): {message}")]
    PaymentRequired {
        /// The server's message.
        message: String,
    },
    /// 403 or 420.
    #[error("the sign server refused the request (HTTP {status}): {message}")]
    Blocked {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// 429: retry after `retry_after`. The message states the reset but promises nothing:
    /// it also ends up in the final error when the client gives up.
    #[error("the sign server rate-limited us (HTTP 429): {message} (limit resets in {:.1}s)", .retry_after.as_secs_f64())]
    RateLimited {
        /// The longest of `Retry-After`, `RateLimit-Reset` and `X-RateLimit-Reset`.
        retry_after: Duration,
        /// The server's message.
        message: String,
    },
    /// 5xx or another unexpected status.
    #[error("the sign server failed (HTTP {status}, request id {request_id:?}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// `X-Request-Id`, for support.
        request_id: Option<String>,
    },
    /// 200 with an empty body: TikTok detected the signer.
    #[error("the sign server answered an empty fetch result (TikTok detected the request)")]
    EmptyBody,
    /// No `X-Set-TT-Cookie` header.
    #[error("the sign server's answer has no X-Set-TT-Cookie header")]
    MissingCookies,
    /// The body is not a fetch result.
    #[error("the sign server's answer is not a fetch result: {0}")]
    Decode(#[from] FrameError),
    /// No cursor or no push server: usually blocked.
    #[error("the fetch result has no {0} (blocked or rate-limited by TikTok?)")]
    Incomplete(&'static str),
    /// A 200 whose push server is the sign provider's own fallback relay, not TikTok's: the
    /// provider is degraded, and the relay's handshake fails. Retried later, not connected.
    #[error("the sign server answered a fallback stub (its push server {push_server} is the provider's relay, not TikTok's): the sign server is degraded; retrying later")]
    FallbackStub {
        /// Scheme, host and path of the push server (its query holds a token).
        push_server: String,
    },
    /// The session id cannot go in a header (its value is never shown).
    #[error(
        "the TikTok session id contains characters not allowed in a cookie; check {}",
        crate::session::SESSION_ID_ENV
    )]
    InvalidSession,
    /// Transport error.
    #[error("sign server request to {url} failed: {source}")]
    Http {
        /// The URL without query (the query holds nothing secret, but is long).
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
}

impl SignError {
    /// True when retrying cannot help (configuration errors).
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::InvalidApiKey { .. } | Self::PaymentRequired { .. } | Self::InvalidSession
        )
    }

    /// The HTTP status the sign server answered, when the failure was an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::InvalidApiKey { .. } => Some(401),
            Self::PaymentRequired { .. } => Some(402),
            Self::RateLimited { .. } => Some(429),
            Self::Blocked { status, .. } | Self::Server { status, .. } => Some(*status),
            Self::EmptyBody
            | Self::MissingCookies
            | Self::Decode(_)
            | Self::Incomplete(_)
            | Self::FallbackStub { .. }
            | Self::InvalidSession
            | Self::Http { .. } => None,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Client of a sign server: `GET /webcast/fetch`, and `GET /webcast/room_id`.
#[derive(Debug, Clone)]
pub(crate) struct SignClient {
    http: reqwest::Client,
    base: Url,
    api_key: Option<Secret>,
    client_name: String,
    user_agent: String,
    /// The login, when the user allowed this server to have it.
    session: Option<Session>,
}

impl SignClient {
    /// `base` is the sign server root (e.g. `https://api.eulerstream.com`); `user_agent` is
    /// the one the WebSocket handshake will use too; `session` is sent to this server (so that
    /// the WebSocket it signs is logged in) only when given here.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        api_key: Option<Secret>,
        client_name: impl Into<String>,
        user_agent: impl Into<String>,
        session: Option<Session>,
    ) -> Self {
        Self {
            http,
            base,
            api_key,
            client_name: client_name.into(),
            user_agent: user_agent.into(),
            session,
        }
    }

    /// One signed fetch for `room_id`.
    pub async fn fetch(&self, room_id: i64) -> Result<SignedFetch, SignError> {
        let shown_url = self.shown("webcast/fetch");
        let http = |source| SignError::Http {
            url: shown_url.clone(),
            source,
        };
        let response = self.request(room_id)?.send().await.map_err(http)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(http)?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if status != 200 {
            return Err(refusal(status, &body, header));
        }
        let mut fetch = signed(&body, header(COOKIE_HEADER))?;
        fetch.room_id = header(ROOM_ID_HEADER).and_then(|v| v.trim().parse().ok());
        Ok(fetch)
    }

    /// The room id of `username` from `GET {base}/webcast/room_id?uniqueId=…`: `Some` when the
    /// user is live, `None` when the server says they are not.
    pub async fn room_id(&self, username: &str) -> Result<Option<i64>, SignError> {
        let url = self.url("webcast/room_id", &[("uniqueId", username)]);
        let shown_url = self.shown("webcast/room_id");
        let http = |source| SignError::Http {
            url: shown_url.clone(),
            source,
        };
        let response = self
            .authorised(self.http.get(url))?
            .send()
            .await
            .map_err(http)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(http)?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if status != 200 {
            return Err(refusal(status, &body, header));
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| SignError::Server {
            status,
            message: "the room-id answer is not JSON".into(),
            request_id: header("x-request-id"),
        })?;
        // `code` repeats the HTTP status in the body; a refusal can come as a 200 too.
        if let Some(code @ (401..=403 | 429)) = json.get("code").and_then(Value::as_u64) {
            return Err(refusal(code as u16, &body, header));
        }
        if json.get("is_live").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        let room_id = match json.get("room_id") {
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .filter(|id| *id > 0);
        room_id.map(Some).ok_or(SignError::Server {
            status,
            message: "the room-id answer names no room".into(),
            request_id: header("x-request-id"),
        })
    }

    /// `{base}/{path}` (keeping a path prefix of the base) with `query`.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/{path}"));
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    /// The URL of `path` as errors show it: without its query.
    fn shown(&self, path: &str) -> String {
        format!("{}/{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// `GET {base}/webcast/fetch?room_id=…&client=…&user_agent=…`, with the API key and, when
    /// allowed, the login.
    fn request(&self, room_id: i64) -> Result<reqwest::RequestBuilder, SignError> {
        let room = room_id.to_string();
        let url = self.url(
            "webcast/fetch",
            &[
                ("room_id", room.as_str()),
                ("client", self.client_name.as_str()),
                ("user_agent", self.user_agent.as_str()),
            ],
        );
        let mut request = self.authorised(self.http.get(url))?;
        if let Some(session) = &self.session {
            let mut value = HeaderValue::from_str(&session.sign_server_cookie())
                .map_err(|_| SignError::InvalidSession)?;
            value.set_sensitive(true);
            request = request.header(SESSION_COOKIE_HEADER, value);
        }
        Ok(request)
    }

    /// `request` with the API key, if there is one.
    fn authorised(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, SignError> {
        let Some(key) = &self.api_key else {
            return Ok(request);
        };
        // Marked sensitive so no HTTP-layer debug output can print it.
        let mut value =
            HeaderValue::from_str(key.expose()).map_err(|_| SignError::InvalidApiKey {
                message: "the API key contains characters not allowed in an HTTP header".into(),
            })?;
        value.set_sensitive(true);
        Ok(request.header(API_KEY_HEADER, value))
    }
}

/// What a non-200 answer means, with the server's message.
fn refusal(status: u16, body: &[u8], header: impl Fn(&str) -> Option<String>) -> SignError {
    let message = error_message(body);
    match status {
        401 => SignError::InvalidApiKey { message },
        402 => SignError::PaymentRequired { message },
        403 | 420 => SignError::Blocked { status, message },
        429 => SignError::RateLimited {
            retry_after: RATE_LIMIT_HEADERS
                .iter()
                .filter_map(|name| rate_limit_wait(&header(name)?))
                .max()
                .unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            message,
        },
        _ => SignError::Server {
            status,
            message,
            request_id: header("x-request-id"),
        },
    }
}

/// A 200 answer: the fetch result, which must point at a push server, and the cookies.
fn signed(body: &[u8], cookies: Option<String>) -> Result<SignedFetch, SignError> {
    if body.is_empty() {
        return Err(SignError::EmptyBody);
    }
    let cookies = cookies.ok_or(SignError::MissingCookies)?;
    let result = decode_fetch_body(body)?;
    if result.cursor.is_empty() {
        return Err(SignError::Incomplete("cursor"));
    }
    if result.push_server.is_empty() {
        return Err(SignError::Incomplete("push_server"));
    }
    if let Some(push_server) = fallback_relay(&result.push_server) {
        return Err(SignError::FallbackStub { push_server });
    }
    Ok(SignedFetch {
        result,
        cookies,
        room_id: None,
    })
}

/// The push server without its query, when it is the sign provider's own relay rather than
/// one of TikTok's: `ws-fallback.*` hosts, and any host of the provider's domain (it runs no
/// TikTok push server).
fn fallback_relay(push_server: &str) -> Option<String> {
    let url = Url::parse(push_server).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let relay = host.starts_with("ws-fallback")
        || host == "eulerstream.com"
        || host.ends_with(".eulerstream.com");
    relay.then(|| format!("{}://{host}{}", url.scheme(), url.path()))
}

/// The wait a rate-limit header asks for: seconds until the reset (the usual form), a Unix
/// timestamp in seconds (values past 10^9), or an HTTP date (`Retry-After`'s other form),
/// capped at [`MAX_RATE_LIMIT_WAIT`].
fn rate_limit_wait(value: &str) -> Option<Duration> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let value = value.trim();
    let wait = match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 1e9 => (secs - now).max(0.0),
        Ok(secs) if secs.is_finite() && secs >= 0.0 => secs,
        Ok(_) => return None,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.timestamp_millis() as f64 / 1000.0 - now).max(0.0)
        }
    };
    Some(Duration::from_secs_f64(wait).min(MAX_RATE_LIMIT_WAIT))
}

/// The `message` of a JSON error body, or the body as text (truncated).
fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(m) = json.get("message").and_then(|m| m.as_str()) {
            return m.to_owned();
        }
    }
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = Secret::new("sk-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "sk-123");
    }

    #[test]
    fn error_messages_from_json_or_text() {
        assert_eq!(
            error_message(br#"{"message":"Too many connections started"}"#),
            "Too many connections started"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }

    #[test]
    fn rate_limit_reset_as_delta_or_timestamp() {
        assert_eq!(rate_limit_wait("30"), Some(Duration::from_secs(30)));
        assert_eq!(rate_limit_wait("0"), Some(Duration::ZERO));
        assert_eq!(rate_limit_wait("bogus"), None);
        let in_a_minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 60;
        let wait = rate_limit_wait(&in_a_minute.to_string()).expect("wait");
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(rate_limit_wait("99999999999"), Some(MAX_RATE_LIMIT_WAIT));
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        let wait = rate_limit_wait(&soon.to_rfc2822()).expect("HTTP date");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(rate_limit_wait("-3"), None);
    }

    #[test]
    fn a_429_waits_for_the_longest_of_its_headers() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        for (pairs, want) in [
            (&[("retry-after", "12")][..], 12),
            (&[("x-ratelimit-reset", "7")][..], 7),
            (&[("ratelimit-reset", "3"), ("retry-after", "9")][..], 9),
            (&[][..], 60),
        ] {
            let e = refusal(429, b"{}", headers(pairs));
            assert_eq!(
                e.retry_after(),
                Some(Duration::from_secs(want)),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn the_providers_fallback_relay_is_recognised() {
        assert_eq!(
            fallback_relay("wss://ws-fallback.eulerstream.com/?token=abc").as_deref(),
            Some("wss://ws-fallback.eulerstream.com/")
        );
        assert!(fallback_relay("wss://ws-fallback.eulerstream.invalid/x").is_some());
        assert!(fallback_relay(
            "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"
        )
        .is_none());
        assert!(fallback_relay("ws://127.0.0.1:4000/webcast/im/ws_proxy/").is_none());
    }

    #[test]
    fn fatal_errors() {
        assert!(SignError::InvalidApiKey {
            message: String::new()
        }
        .is_fatal());
        assert!(SignError::PaymentRequired {
            message: String::new()
        }
        .is_fatal());
        assert!(!SignError::Blocked {
            status: 403,
            message: String::new()
        }
        .is_fatal());
        assert!(!SignError::EmptyBody.is_fatal());
    }

    #[test]
    fn rate_limit_message_states_the_reset_without_promising_a_retry() {
        let e = SignError::RateLimited {
            retry_after: Duration::from_secs(7),
            message: "Too many connections started".into(),
        };
        let shown = e.to_string();
        assert!(shown.contains("limit resets in 7.0s"), "{shown}");
        assert!(!shown.contains("retry"), "{shown}");
        assert_eq!(e.status(), Some(429));
        assert_eq!(SignError::EmptyBody.status(), None);
    }
}
