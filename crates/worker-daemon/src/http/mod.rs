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
//!
//! Modules: `settings` (`--http` and the token, checked at startup), `auth` (who may talk
//! to the server), `ws` (one page's socket, bridged to the hub), `api` (the JSON endpoints),
//! `assets` (the embedded pages), `state` (what the handlers share).

mod api;
mod assets;
mod auth;
mod settings;
mod state;
mod ws;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use lifecycle::Shutdown;

pub use settings::{HttpError, HttpSettings, DEFAULT_ADDR};
pub(crate) use state::AppState;

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
        .route("/health", get(api::health))
        .route("/api/stats", get(api::stats))
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
