//! Signing (reference §1.3): the sign server performs TikTok's `/webcast/im/fetch` and answers
//! the raw [`ProtoMessageFetchResult`] plus the cookies for the WebSocket in `X-Set-TT-Cookie`.
//! A signed URL expires in about 30 s, so every (re)connect fetches afresh.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::frame::{decode_fetch_body, FrameError};
use crate::proto::ProtoMessageFetchResult;

/// Header carrying the cookies to send on the WebSocket handshake.
const COOKIE_HEADER: &str = "x-set-tt-cookie";
/// Header carrying the API key.
const API_KEY_HEADER: &str = "x-api-key";
/// Longest wait a 429 can impose.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);
/// Wait used when a 429 has no usable `RateLimit-Reset`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

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
        /// From `RateLimit-Reset`.
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
            Self::InvalidApiKey { .. } | Self::PaymentRequired { .. }
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

/// Client of a sign server's `GET /webcast/fetch`.
#[derive(Debug, Clone)]
pub(crate) struct SignClient {
    http: reqwest::Client,
    base: Url,
    api_key: Option<Secret>,
    client_name: String,
    user_agent: String,
}

impl SignClient {
    /// `base` is the sign server root (e.g. `https://tiktok.eulerstream.com`); `user_agent` is
    /// the one the WebSocket handshake will use too.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        api_key: Option<Secret>,
        client_name: impl Into<String>,
        user_agent: impl Into<String>,
    ) -> Self {
        Self {
            http,
            base,
            api_key,
            client_name: client_name.into(),
            user_agent: user_agent.into(),
        }
    }

    /// One signed fetch for `room_id`.
    pub async fn fetch(&self, room_id: i64) -> Result<SignedFetch, SignError> {
        let shown_url = format!("{}/webcast/fetch", self.base.as_str().trim_end_matches('/'));
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
        signed(&body, header(COOKIE_HEADER))
    }

    /// `GET {base}/webcast/fetch?room_id=…&client=…&user_agent=…`, with the API key.
    fn request(&self, room_id: i64) -> Result<reqwest::RequestBuilder, SignError> {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/webcast/fetch"));
        url.query_pairs_mut()
            .append_pair("room_id", &room_id.to_string())
            .append_pair("client", &self.client_name)
            .append_pair("user_agent", &self.user_agent);
        let mut request = self.http.get(url);
        if let Some(key) = &self.api_key {
            // Marked sensitive so no HTTP-layer debug output can print it.
            let mut value = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
                SignError::InvalidApiKey {
                    message: "the API key contains characters not allowed in an HTTP header".into(),
                }
            })?;
            value.set_sensitive(true);
            request = request.header(API_KEY_HEADER, value);
        }
        Ok(request)
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
            retry_after: header("ratelimit-reset")
                .as_deref()
                .and_then(rate_limit_wait)
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
    Ok(SignedFetch { result, cookies })
}

/// The wait a `RateLimit-Reset` value asks for: seconds until the reset (the usual form), or
/// a Unix timestamp in seconds (values past 10^9), capped at [`MAX_RATE_LIMIT_WAIT`].
fn rate_limit_wait(value: &str) -> Option<Duration> {
    let secs = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    let wait = if secs > 1e9 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        (secs - now).max(0.0)
    } else {
        secs
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
