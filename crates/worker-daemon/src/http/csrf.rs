//! Cross-site request forgery: a page on another site open in the streamer's browser must not
//! change anything here (the browser would send the token cookie along). Every request other
//! than GET/HEAD/OPTIONS must
//! - carry the daemon's CSRF token in `X-CSRF-Token` (the page reads it from `GET /api/csrf`,
//!   which another site cannot read: no CORS), and
//! - come from our own origin when the browser says where it comes from (`Origin`, else
//!   `Referer`); a request naming another origin is refused even with the token.
//!
//! Refusals are 403 with `{"error": …}`, before any handler runs. GET never changes anything.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::{constant_time_eq, origin_matches_host};
use super::state::AppState;

/// The header that carries the token.
pub(crate) const HEADER: &str = "x-csrf-token";

/// A fresh random token (128 bits, hex).
pub(crate) fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses a state-changing request without the token or from another origin.
pub(super) async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if let Err(why) = check(request.headers(), &app.csrf) {
        tracing::warn!(
            method = %request.method(),
            path = %request.uri().path(),
            "refused a state-changing request: {why}"
        );
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": why })),
        )
            .into_response();
    }
    next.run(request).await
}

fn check(headers: &HeaderMap, token: &str) -> Result<(), &'static str> {
    if !same_origin(headers) {
        return Err("cross-site request refused: it must come from the control room's own page");
    }
    let carried = headers.get(HEADER).and_then(|v| v.to_str().ok());
    if !carried.is_some_and(|c| constant_time_eq(c.as_bytes(), token.as_bytes())) {
        return Err(
            "missing or wrong X-CSRF-Token: reload the control room (scripts: GET /api/csrf first)",
        );
    }
    Ok(())
}

/// `Origin`, or failing that the `Referer`'s origin, names this host; true when the request
/// says neither (a script, not a browser).
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN) {
        return origin_matches_host(origin, headers);
    }
    match text(header::REFERER) {
        Some(referer) => {
            let origin_end = referer
                .find("://")
                .and_then(|s| referer[s + 3..].find('/').map(|i| s + 3 + i))
                .unwrap_or(referer.len());
            origin_matches_host(&referer[..origin_end], headers)
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_token_and_our_origin_are_required() {
        let host = ("host", "127.0.0.1:8000");
        let ok = headers(&[host, ("origin", "http://127.0.0.1:8000"), (HEADER, "t0k")]);
        assert!(check(&ok, "t0k").is_ok());
        let script = headers(&[host, (HEADER, "t0k")]);
        assert!(check(&script, "t0k").is_ok());
        let no_token = headers(&[host, ("origin", "http://127.0.0.1:8000")]);
        assert!(check(&no_token, "t0k").is_err());
        let wrong = headers(&[host, (HEADER, "nope")]);
        assert!(check(&wrong, "t0k").is_err());
        let foreign = headers(&[host, ("origin", "https://evil.example"), (HEADER, "t0k")]);
        assert!(check(&foreign, "t0k").is_err());
        let foreign_referer = headers(&[
            host,
            ("referer", "https://evil.example/page"),
            (HEADER, "t0k"),
        ]);
        assert!(check(&foreign_referer, "t0k").is_err());
        let own_referer = headers(&[
            host,
            ("referer", "http://127.0.0.1:8000/#queue"),
            (HEADER, "t0k"),
        ]);
        assert!(check(&own_referer, "t0k").is_ok());
    }
}
