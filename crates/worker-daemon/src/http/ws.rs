//! The pages' WebSockets: server → page messages come from the [`Hub`] (`hello`, then `event`
//! or `action` for a queue item, and `cancel` when the server gave up on one the page has not
//! acked); page → server messages are acks (`{"type":"ack","id":N}`), anything else is
//! ignored.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::hub::{Hub, PageKind};
use super::{auth, AppState};

/// Largest message a page may send (acks are tiny).
const MAX_MESSAGE: usize = 16 * 1024;
/// How often the server pings, so dead connections (a closed OBS) are noticed.
const PING_EVERY: Duration = Duration::from_secs(15);

/// `?service=SLUG`: follow only one service of the page's kind.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    service: Option<String>,
}

/// A message from a page.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    /// The page is done with a queue item.
    Ack { id: i64 },
    #[serde(other)]
    Other,
}

/// `/ws/overlays`.
pub async fn overlays(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    State(app): State<AppState>,
) -> Response {
    upgrade(ws, &headers, q, app.hub, PageKind::Overlays)
}

/// `/ws/dino`.
pub async fn dino(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    State(app): State<AppState>,
) -> Response {
    upgrade(ws, &headers, q, app.hub, PageKind::Dino)
}

fn upgrade(
    ws: WebSocketUpgrade,
    headers: &HeaderMap,
    q: PageQuery,
    hub: Hub,
    kind: PageKind,
) -> Response {
    if !auth::same_origin(headers) {
        return (StatusCode::FORBIDDEN, "foreign origin\n").into_response();
    }
    let service = q.service.filter(|s| !s.is_empty());
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(socket, hub, kind, service))
}

async fn run(mut socket: WebSocket, hub: Hub, kind: PageKind, service: Option<String>) {
    let mut page = hub.connect(kind, service);
    let hello = serde_json::json!({ "type": "hello", "page": kind.as_str(), "page_id": page.id });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            out = page.outbox.recv() => {
                let Some(text) = out else { break };
                if socket.send(Message::Text(String::from(&*text).into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<FromPage>(&text) {
                    Ok(FromPage::Ack { id }) => {
                        if !hub.ack(page.id, id) {
                            tracing::debug!(page = page.id, item = id, "late or unknown ack ignored");
                        }
                    }
                    Ok(FromPage::Other) => {}
                    Err(e) => tracing::debug!(page = page.id, "unreadable message from a page: {e}"),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    // Dropping the handle disconnects the page: deliveries only it could answer fail now.
    drop(page);
}
