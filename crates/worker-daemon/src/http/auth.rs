//! Who may talk to the server.
//!
//! - With a token (required when bound to a non-loopback address), every request carries it:
//!   `?token=…` (page and WebSocket URLs), `Authorization: Bearer …`, or the cookie a page
//!   loaded with `?token=` receives, so the page's own scripts and styles load too.
//! - Without a token (loopback only), the `Host` header must name the loopback, which stops
//!   DNS-rebinding pages from reaching the server through a hostile domain.
//! - Browsers may open the WebSockets only from our own pages (same `Origin`), so another
//!   website open in the streamer's browser cannot listen in or fake acks.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;

/// Cookie that carries the token for a page's own assets.
const COOKIE: &str = "worker_token";

/// Rejects requests that do not carry the token (if any) or come through a foreign host.
pub(super) async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = app.token.as_deref() else {
        if !loopback_host(request.headers()) {
            return (StatusCode::FORBIDDEN, "forbidden host\n").into_response();
        }
        return next.run(request).await;
    };
    let from_query = query_token(request.uri().query());
    let carried = from_query
        .clone()
        .or_else(|| bearer(request.headers()))
        .or_else(|| cookie(request.headers()));
    if !carried.is_some_and(|c| constant_time_eq(c.as_bytes(), token.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            "a token is required: add ?token=… or an Authorization: Bearer header\n",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if from_query.is_some() {
        // The page's scripts and styles are fetched without the query: the cookie covers them.
        let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Whether a WebSocket upgrade comes from one of our own pages (or from no browser at all).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    origin_matches_host(origin, headers)
}

/// Whether an origin (`http://host:port`) names the host the request was sent to.
pub(super) fn origin_matches_host(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 clients without Host: nothing to rebind.
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(v))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// `%XX` and `+` decoding of one query value.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares without stopping at the first difference, so timing does not leak the token.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tokens_are_found_in_query_header_and_cookie() {
        assert_eq!(query_token(Some("a=1&token=s%20e+c")), Some("s e c".into()));
        assert_eq!(query_token(Some("tokens=x")), None);
        let h = headers(&[
            (header::AUTHORIZATION, "Bearer abc"),
            (header::COOKIE, "x=1; worker_token=def"),
        ]);
        assert_eq!(bearer(&h), Some("abc".into()));
        assert_eq!(cookie(&h), Some("def".into()));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn hosts_and_origins() {
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "[::1]:8000",
            "localhost",
        ] {
            assert!(loopback_host(&headers(&[(header::HOST, ok)])), "{ok}");
        }
        assert!(!loopback_host(&headers(&[(
            header::HOST,
            "evil.example:8000"
        )])));
        let same = headers(&[
            (header::HOST, "127.0.0.1:8000"),
            (header::ORIGIN, "http://127.0.0.1:8000"),
        ]);
        assert!(same_origin(&same));
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:8000"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(!same_origin(&foreign));
        assert!(same_origin(&headers(&[(header::HOST, "127.0.0.1:8000")])));
    }
}
