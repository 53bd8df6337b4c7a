//! The HTTP + WebSocket server for the browser sources (OBS pages).
//!
//! | path | what |
//! |---|---|
//! | `/overlays` | alerts (gifts, follows, subscribes, shares) and the chat feed |
//! | `/dino` | the dino runner; events make the dino act |
//! | `/ws/overlays`, `/ws/dino` | the pages' WebSockets (`?service=SLUG` to follow one service) |
//! | `/assets/…` | the pages' scripts and styles (separate files: the CSP forbids inline code) |
//! | `/` | the control room (dashboard, services and rules, queues, test events, sessions, events, settings) |
//! | `/ws/dashboard` | the dashboard's live snapshots, one a second |
//! | `/health` | `{"status":"ok","pages":{…}}` |
//! | `/metrics` | Prometheus text format |
//! | `/api/stats` | queue statistics of every service, as JSON |
//! | `/api/csrf`, `/api/dashboard`, `/api/…` | the control room's API (see `control`) |
//!
//! Every response carries a Content-Security-Policy that allows only our own scripts, so even
//! TikTok text that slipped into the DOM as HTML could not run code (the pages never do that:
//! they set `textContent`).
//!
//! Modules: `settings` (`--http` and the token, checked at startup), `auth` (who may talk
//! to the server), `csrf` (state-changing requests come from our page), `ws` (one page's
//! socket, bridged to the hub), `api` (`/health`, `/api/stats`, `/api/csrf`), `control` (the
//! control room's API), `live` (the dashboard's snapshots), `metrics`, `error` (the API's
//! errors), `assets` (the embedded pages), `state` (what the handlers share).

mod api;
mod assets;
mod auth;
mod control;
mod csrf;
mod error;
mod live;
mod metrics;
mod settings;
mod state;
mod ws;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use lifecycle::Shutdown;

pub(crate) use live::LiveFeed;
pub use settings::{HttpError, HttpSettings, DEFAULT_ADDR};
pub(crate) use state::AppState;

/// A fresh CSRF token for a server's [`AppState`].
pub(crate) fn new_csrf_token() -> String {
    csrf::new_token()
}

/// The policy for every response: our own scripts, styles and sockets only; avatars may come
/// from TikTok's CDN over https.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'";

/// The routes, with the token guard and the security headers.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/overlays", get(assets::overlays_page))
        .route("/dino", get(assets::dino_page))
        .route("/assets/{name}", get(assets::asset))
        .route("/ws/overlays", get(ws::overlays))
        .route("/ws/dino", get(ws::dino))
        .route("/ws/dashboard", get(live::socket))
        .route("/health", get(api::health))
        .route("/metrics", get(metrics::metrics))
        .route("/api/stats", get(api::stats))
        .route("/api/csrf", get(api::csrf))
        .route("/api/dashboard", get(live::dashboard))
        .merge(control::routes())
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves until `shutdown` fires; requests in progress then finish first.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.wait().await })
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
