//! The HTTP + WebSocket server for the browser sources (OBS pages).
//!
//! | path | what |
//! |---|---|
//! | `/overlays` | alerts (gifts, follows, subscribes, shares) and the chat feed |
//! | `/dino` | the dino runner; events make the dino act |
//! | `/ws/overlays`, `/ws/dino` | the pages' WebSockets (`?service=SLUG` to follow one service) |
//! | `/assets/…` | the pages' scripts and styles (separate files: the CSP forbids inline code) |
//! | `/health` | `{"status":"ok","pages":{…}}` |
//! | `/api/stats` | queue statistics of every service, as JSON |
//!
//! Every response carries a Content-Security-Policy that allows only our own scripts, so even
//! TikTok text that slipped into the DOM as HTML could not run code (the pages never do that:
//! they set `textContent`).

mod assets;
pub mod auth;
pub mod hub;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use tokio::sync::watch;

pub use hub::{DeliveryError, Hub, PageKind};

use crate::queue_client::QueueClient;
use crate::stats::{Counters, LagSummary};

/// The address served when `--http` is not given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// The policy for every response: our own scripts, styles and sockets only; avatars may come
/// from TikTok's CDN over https.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'";

/// Where and how to serve, validated.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Required on every request when set.
    pub token: Option<String>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// `--http` is not an address.
    #[error("--http '{0}' is not an address like 127.0.0.1:8000 (or 'off')")]
    BadAddress(String),
    /// A non-loopback address without a token.
    #[error(
        "--http {0} is reachable from other machines: set a token with --http-token or \
         WORKER_HTTP_TOKEN (or bind 127.0.0.1)"
    )]
    TokenRequired(SocketAddr),
    /// A token with characters that do not survive a URL or a cookie unescaped.
    #[error("the http token may contain only letters, digits and - . _ ~ (it goes in URLs)")]
    BadToken,
    /// The port is taken or the address is not ours.
    #[error("cannot listen on {addr}: {source} (another worker-daemon? choose one with --http ADDR, or --http off)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl HttpSettings {
    /// Validates `--http` and the token: `None` when the server is off.
    pub fn new(addr: &str, token: Option<String>) -> Result<Option<HttpSettings>, HttpError> {
        if addr.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        // `localhost` is the one name accepted: resolving others is not worth a surprise.
        let numeric = match addr.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => addr.to_owned(),
        };
        let addr: SocketAddr = numeric
            .parse()
            .map_err(|_| HttpError::BadAddress(addr.to_owned()))?;
        let token = token.filter(|t| !t.trim().is_empty());
        let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if token.as_deref().is_some_and(|t| !t.chars().all(url_safe)) {
            return Err(HttpError::BadToken);
        }
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(HttpError::TokenRequired(addr));
        }
        Ok(Some(HttpSettings { addr, token }))
    }

    /// Binds the address now (before anything else starts), so a taken port is one clear
    /// error at startup.
    pub fn bind(&self) -> Result<std::net::TcpListener, HttpError> {
        let bind_err = |source| HttpError::Bind {
            addr: self.addr,
            source,
        };
        let listener = std::net::TcpListener::bind(self.addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        Ok(listener)
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Connected pages.
    pub hub: Hub,
    /// Database access for `/api/stats`.
    pub queue: QueueClient,
    /// This daemon's counters, for the lag in `/api/stats`.
    pub counters: Counters,
    /// Required on every request when set.
    pub token: Option<Arc<str>>,
}

/// The routes, with the token guard and the security headers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/overlays", get(assets::overlays_page))
        .route("/dino", get(assets::dino_page))
        .route("/assets/{name}", get(assets::asset))
        .route("/ws/overlays", get(ws::overlays))
        .route("/ws/dino", get(ws::dino))
        .route("/health", get(health))
        .route("/api/stats", get(stats))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn health(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "pages": app.hub.counts() }))
}

/// One service in `/api/stats`: its queue, and the lag of the items this daemon started.
#[derive(serde::Serialize)]
struct ServiceStats {
    #[serde(flatten)]
    queue: dispatcher::QueueStats,
    /// Capture → `process_event` lag since this daemon started; `null` for a service it has
    /// not run.
    lag: Option<LagSummary>,
}

async fn stats(State(app): State<AppState>) -> Response {
    match app.queue.stats().await {
        Ok(stats) => {
            let lag: std::collections::HashMap<String, LagSummary> = app
                .counters
                .lag()
                .into_iter()
                .filter_map(|(slug, l)| Some((slug, l.summary()?)))
                .collect();
            let body: Vec<ServiceStats> = stats
                .into_iter()
                .map(|queue| ServiceStats {
                    lag: lag.get(&queue.slug).copied(),
                    queue,
                })
                .collect();
            Json(body).into_response()
        }
        Err(e) => {
            tracing::warn!("/api/stats: {e:#}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "the database is not answering" })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_a_token_off_the_loopback() {
        assert!(HttpSettings::new("off", None).unwrap().is_none());
        let local = HttpSettings::new("127.0.0.1:0", None).unwrap().unwrap();
        assert!(local.token.is_none());
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", None),
            Err(HttpError::TokenRequired(_))
        ));
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", Some(" ".into())),
            Err(HttpError::TokenRequired(_))
        ));
        assert!(HttpSettings::new("0.0.0.0:8000", Some("s3cret".into()))
            .unwrap()
            .is_some());
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", Some("a;b".into())),
            Err(HttpError::BadToken)
        ));
        assert_eq!(
            HttpSettings::new("localhost:8001", None)
                .unwrap()
                .unwrap()
                .addr,
            "127.0.0.1:8001".parse().unwrap()
        );
        assert!(matches!(
            HttpSettings::new("localhost:99999", None),
            Err(HttpError::BadAddress(_))
        ));
    }
}
