//! The pages and their scripts and styles, embedded in the binary: no build step, nothing
//! fetched from the network.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const OVERLAYS_HTML: &str = include_str!("../assets/overlays.html");
const DINO_HTML: &str = include_str!("../assets/dino.html");

/// `/assets/{name}`: (name, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "socket.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/socket.js"),
    ),
    (
        "overlays.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/overlays.js"),
    ),
    (
        "overlays.css",
        "text/css; charset=utf-8",
        include_str!("../assets/overlays.css"),
    ),
    (
        "dino.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/dino.js"),
    ),
    (
        "dino.css",
        "text/css; charset=utf-8",
        include_str!("../assets/dino.css"),
    ),
];

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// `/`: the control room.
pub async fn index() -> Response {
    html(INDEX_HTML)
}

/// `/overlays`.
pub async fn overlays_page() -> Response {
    html(OVERLAYS_HTML)
}

/// `/dino`.
pub async fn dino_page() -> Response {
    html(DINO_HTML)
}

/// `/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
