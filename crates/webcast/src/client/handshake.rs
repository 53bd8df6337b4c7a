//! Opening the WebSocket a signed fetch points at: the URL the web client would use, the
//! signing's User-Agent and cookies, and TikTok's way of refusing (HTTP 200 instead of 101).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{COOKIE, USER_AGENT};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::config::ClientConfig;
use super::error::AttemptError;
use crate::browser::{cookie_header, Browser};
use crate::proto::ProtoMessageFetchResult;
use crate::sign::SignedFetch;

/// The client's WebSocket.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open WebSocket and the heartbeat period it asked for.
pub(super) struct Opened {
    /// The socket.
    pub(super) socket: Socket,
    /// From the handshake's `Handshake-Options`, else the configured interval.
    pub(super) heartbeat_every: Duration,
}

/// Opens the push server's WebSocket within the request timeout.
pub(super) async fn open(
    config: &ClientConfig,
    signed: &SignedFetch,
    room_id: i64,
) -> Result<Opened, AttemptError> {
    let request = request(config, signed, room_id)?;
    let connect = tokio_tungstenite::connect_async(request);
    let (socket, response) = tokio::time::timeout(config.request_timeout, connect)
        .await
        .map_err(|_| {
            AttemptError::Other(format!(
                "WebSocket handshake timed out after {:?}",
                config.request_timeout
            ))
        })?
        .map_err(refusal)?;
    let heartbeat_every = response
        .headers()
        .get("handshake-options")
        .and_then(|v| v.to_str().ok())
        .and_then(ping_interval)
        .unwrap_or(config.heartbeat_interval);
    Ok(Opened {
        socket,
        heartbeat_every,
    })
}

/// The handshake request: the WebSocket URL, the User-Agent the signing used, a browser's
/// headers, and the signing's cookies with the data centre and the login's (marked sensitive).
fn request(
    config: &ClientConfig,
    signed: &SignedFetch,
    room_id: i64,
) -> Result<Request, AttemptError> {
    let browser = Browser::new(&config.user_agent);
    let url = ws_url(&signed.result, room_id, config.heartbeat_interval, &browser)
        .map_err(AttemptError::Other)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| AttemptError::Other(format!("bad WebSocket URL: {e}")))?;
    let invalid = |name: &str| AttemptError::Other(format!("{name} is not a valid header value"));
    let headers = request.headers_mut();
    for (name, value) in Browser::HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let user_agent =
        HeaderValue::from_str(&config.user_agent).map_err(|_| invalid("User-Agent"))?;
    headers.insert(USER_AGENT, user_agent);
    // The error names the header, never its value: it may hold the login.
    let mut cookie =
        HeaderValue::from_str(&cookie_header(config.session.as_ref(), &signed.cookies))
            .map_err(|_| invalid("the Cookie (signing cookies or session id)"))?;
    cookie.set_sensitive(true);
    headers.insert(COOKIE, cookie);
    Ok(request)
}

/// Why the handshake failed. TikTok refuses a connection (DEVICE_BLOCKED and the like) with
/// HTTP 200 and its reasons in the `handshake-status` and `handshake-msg` headers.
fn refusal(error: tokio_tungstenite::tungstenite::Error) -> AttemptError {
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        return AttemptError::Other(format!("WebSocket connect failed: {error}"));
    };
    if response.status().as_u16() != 200 {
        return AttemptError::Other(format!(
            "WebSocket handshake answered HTTP {}",
            response.status()
        ));
    }
    let header = |n: &str| {
        response
            .headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    AttemptError::Rejected {
        status: header("handshake-status"),
        message: header("handshake-msg"),
    }
}

/// `ping-interval` (seconds) from a `Handshake-Options` header such as `ping-interval=10; x=y`.
fn ping_interval(options: &str) -> Option<Duration> {
    options
        .split([';', ','])
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("ping-interval"))
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
        .map(Duration::from_secs_f64)
}

/// The WebSocket URL: `push_server`, the non-empty route params (sorted), then the web
/// client's parameters as the peers send them (the browser's, heartbeat_duration, room_id,
/// `compress=gzip`, cursor and internal_ext) unless the route params carry them; then
/// `version_code=270000` appended again as the production web client does.
fn ws_url(
    result: &ProtoMessageFetchResult,
    room_id: i64,
    heartbeat: Duration,
    browser: &Browser<'_>,
) -> Result<Url, String> {
    let mut url = push_server(&result.push_server)?;
    let mut route: Vec<(&str, &str)> = result
        .route_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    route.sort();
    let heartbeat_ms = heartbeat.as_millis().to_string();
    let room = room_id.to_string();
    let ours = [
        ("heartbeat_duration", heartbeat_ms.as_str()),
        ("room_id", room.as_str()),
        ("compress", "gzip"),
        ("cursor", result.cursor.as_str()),
        ("internal_ext", result.internal_ext.as_str()),
    ];
    let defaults = browser
        .ws_params()
        .into_iter()
        .chain(ours)
        .filter(|(k, v)| !v.is_empty() && !route.iter().any(|(r, _)| r == k));
    url.query_pairs_mut()
        .extend_pairs(route.iter().copied().chain(defaults))
        .append_pair("version_code", "270000");
    Ok(url)
}

/// The push server's address, which must be a WebSocket URL.
fn push_server(push_server: &str) -> Result<Url, String> {
    let url = Url::parse(push_server)
        .map_err(|e| format!("push_server {push_server:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!(
            "push_server {push_server:?} is not a ws:// or wss:// URL"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let browser = Browser::new(crate::client::DEFAULT_USER_AGENT);
        let url = ws_url(&result, 42, Duration::from_secs(10), &browser).expect("url");
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
        assert_eq!(get("browser_name"), vec!["Mozilla"]);
        assert!(get("browser_version")[0].starts_with("5.0 (Windows NT 10.0"));
        for key in [
            "tz_name",
            "webcast_language",
            "screen_width",
            "screen_height",
            "last_rtt",
        ] {
            assert_eq!(get(key).len(), 1, "{key}");
        }
        assert!(ws_url(
            &ProtoMessageFetchResult {
                push_server: "http://x".into(),
                ..Default::default()
            },
            1,
            Duration::from_secs(1),
            &browser
        )
        .is_err());
    }
}
