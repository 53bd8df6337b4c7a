//! The pages' WebSockets: server → page messages come from the [`Hub`] (`hello`, then `event`
//! or `action` for a queue item, and `cancel` when the server gave up on one the page has not
//! acked); page → server messages are acks (`{"type":"ack","id":N}`), anything else is
//! ignored.

use std::ops::ControlFlow;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::time::Interval;

use super::auth;
use super::state::AppState;
use crate::hub::{Hub, PageHandle, PageKind};

/// Largest message a page may send (acks are tiny).
const MAX_MESSAGE: usize = 16 * 1024;
/// How often the server pings, so dead connections (a closed OBS) are noticed.
const PING_EVERY: Duration = Duration::from_secs(15);

/// `?service=SLUG`: follow only one service of the page's kind.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
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
pub(super) async fn overlays(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    State(app): State<AppState>,
) -> Response {
    upgrade(ws, &headers, q, app.hub, PageKind::Overlays)
}

/// `/ws/dino`.
pub(super) async fn dino(
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
    ws.max_message_size(MAX_MESSAGE).on_upgrade(move |socket| {
        let page = hub.connect(kind, service);
        PageSocket {
            socket,
            hub,
            kind,
            page,
        }
        .serve()
    })
}

/// One connected page: its socket on one side, its place in the hub on the other.
struct PageSocket {
    socket: WebSocket,
    hub: Hub,
    kind: PageKind,
    /// Disconnects the page from the hub when dropped: deliveries only it could answer fail
    /// then.
    page: PageHandle,
}

impl PageSocket {
    /// Greets the page, then passes messages both ways until either side goes away.
    async fn serve(mut self) {
        if self.say_hello().await.is_break() {
            return;
        }
        let mut ping: Interval = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let step = tokio::select! {
                out = self.page.outbox.recv() => self.forward(out).await,
                incoming = self.socket.recv() => self.receive(incoming),
                _ = ping.tick() => self.send(Message::Ping(Default::default())).await,
            };
            if step.is_break() {
                break;
            }
        }
    }

    async fn say_hello(&mut self) -> ControlFlow<()> {
        let hello = serde_json::json!({
            "type": "hello",
            "page": self.kind.as_str(),
            "page_id": self.page.id,
        });
        self.send(Message::Text(hello.to_string().into())).await
    }

    /// A message the hub has for the page; `None` when the hub let go of it.
    async fn forward(&mut self, out: Option<std::sync::Arc<str>>) -> ControlFlow<()> {
        match out {
            Some(text) => self.send(Message::Text(String::from(&*text).into())).await,
            None => ControlFlow::Break(()),
        }
    }

    /// What the page sent: an ack goes to the hub; a close or an error ends the page.
    fn receive(&self, incoming: Option<Result<Message, axum::Error>>) -> ControlFlow<()> {
        match incoming {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<FromPage>(&text) {
                Ok(FromPage::Ack { id }) => {
                    if !self.hub.ack(self.page.id, id) {
                        tracing::debug!(
                            page = self.page.id,
                            item = id,
                            "late or unknown ack ignored"
                        );
                    }
                }
                Ok(FromPage::Other) => {}
                Err(e) => {
                    tracing::debug!(page = self.page.id, "unreadable message from a page: {e}")
                }
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return ControlFlow::Break(()),
            Some(Ok(_)) => {}
        }
        ControlFlow::Continue(())
    }

    async fn send(&mut self, message: Message) -> ControlFlow<()> {
        match self.socket.send(message).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}
