//! The simulator's WebSocket push server, with tokio-tungstenite: each handshake is recorded
//! (or refused the way TikTok refuses), the newest connection gets what the player sends, and
//! every frame the client sends (enter-room, heartbeats, acks) is recorded and answered.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use lifecycle::Shutdown;
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use webcast::frame::{
    self, PAYLOAD_ACK, PAYLOAD_ENTER_ROOM, PAYLOAD_ENTER_ROOM_RESP, PAYLOAD_HEARTBEAT,
};
use webcast::proto::{HeartBeatMessage, WebcastImEnterRoomMessage};

use crate::duties::{AckObservation, ConnectionObservation, HeartbeatObservation};
use crate::state::{Outbound, Shared};

type Socket = WebSocketStream<TcpStream>;

/// Accepts connections until the shutdown fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(accept(stream, shared.clone(), shutdown.clone()));
                }
                Err(error) => tracing::warn!(%error, "simulator accept failed"),
            },
            () = shutdown.wait() => return,
        }
    }
}

/// One incoming connection: refused when the handle asked for it, else upgraded and served.
async fn accept(stream: TcpStream, shared: Arc<Shared>, shutdown: Shutdown) {
    let rejection = {
        let mut control = shared.control();
        (!control.handshake_rejections.is_empty()).then(|| control.handshake_rejections.remove(0))
    };
    if let Some((status, message)) = rejection {
        reject(stream, &shared, status, &message).await;
        return;
    }
    if let Some(connection) = PushConnection::upgrade(stream, shared, shutdown).await {
        connection.serve().await;
    }
}

/// How a connection ends.
enum Ending {
    /// The client left, the socket failed, or the simulator stops.
    Gone,
    /// The stream ended: a clean close.
    Close,
    /// [`Fault::DropConnection`](crate::Fault::DropConnection): no close frame.
    Drop,
}

/// An accepted WebSocket, the one the player delivers to until a newer one comes.
struct PushConnection {
    /// Its index in [`Duties::connections`](crate::Duties::connections).
    index: usize,
    shared: Arc<Shared>,
    sink: SplitSink<Socket, Message>,
    inbound: SplitStream<Socket>,
    /// What the player sends.
    outbound: mpsc::Receiver<Outbound>,
    shutdown: Shutdown,
}

impl PushConnection {
    /// The WebSocket handshake, recorded; the connection becomes the one the player delivers
    /// to.
    async fn upgrade(
        stream: TcpStream,
        shared: Arc<Shared>,
        shutdown: Shutdown,
    ) -> Option<PushConnection> {
        let slot = Arc::new(Mutex::new(None));
        #[allow(clippy::result_large_err)]
        let callback = {
            let shared = shared.clone();
            let slot = slot.clone();
            move |request: &Request, response: WsResponse| {
                handshake(&shared, request, response, &slot)
            }
        };
        let socket = match tokio_tungstenite::accept_hdr_async(stream, callback).await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::debug!(%error, "simulator handshake ended without a WebSocket");
                return None;
            }
        };
        let index = slot.lock().ok().and_then(|s| *s)?;
        let (tx, outbound) = mpsc::channel(256);
        shared.connect(index, tx);
        let (sink, inbound) = socket.split();
        Some(PushConnection {
            index,
            shared,
            sink,
            inbound,
            outbound,
            shutdown,
        })
    }

    /// Serves the connection until it ends; a frozen one neither answers nor delivers, one
    /// whose data is frozen answers but delivers nothing.
    async fn serve(mut self) {
        let ending = loop {
            let frozen = self.frozen();
            let delivering = !frozen && !self.shared.control().data_frozen;
            let step = tokio::select! {
                message = self.inbound.next() => self.on_client_message(message).await,
                out = self.outbound.recv(), if delivering => self.on_outbound(out).await,
                // Re-check the frozen flag now and then so a freeze is noticed without traffic.
                () = tokio::time::sleep(Duration::from_millis(50)) => ControlFlow::Continue(()),
                () = self.shutdown.wait() => ControlFlow::Break(Ending::Gone),
            };
            if let ControlFlow::Break(ending) = step {
                break ending;
            }
        };
        let (shared, index) = (self.shared.clone(), self.index);
        match ending {
            Ending::Close => self.close_cleanly().await,
            Ending::Drop => self.drop_abruptly().await,
            Ending::Gone => {}
        }
        shared.forget(index);
    }

    fn frozen(&self) -> bool {
        self.shared.control().frozen
    }

    /// A message from the client: its frames are recorded and answered.
    async fn on_client_message(
        &mut self,
        message: Option<Result<Message, WsError>>,
    ) -> ControlFlow<Ending> {
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                let Some(reply) = on_client_frame(&self.shared, self.index, &bytes) else {
                    return ControlFlow::Continue(());
                };
                if !self.frozen() && self.sink.send(Message::Binary(reply.into())).await.is_err() {
                    return ControlFlow::Break(Ending::Gone);
                }
                ControlFlow::Continue(())
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => ControlFlow::Break(Ending::Gone),
            Some(Ok(_)) => ControlFlow::Continue(()),
        }
    }

    /// What the player sends: a frame goes out; a close or a drop ends the connection.
    async fn on_outbound(&mut self, out: Option<Outbound>) -> ControlFlow<Ending> {
        match out {
            Some(Outbound::Frame(bytes)) => {
                if self.sink.send(Message::Binary(bytes.into())).await.is_err() {
                    return ControlFlow::Break(Ending::Gone);
                }
                ControlFlow::Continue(())
            }
            Some(Outbound::Close) => ControlFlow::Break(Ending::Close),
            Some(Outbound::Drop) => ControlFlow::Break(Ending::Drop),
            None => ControlFlow::Break(Ending::Gone),
        }
    }

    /// A clean close: the close frame, then whatever the client still sends (acks of the last
    /// frames) until it answers the close or a second passes.
    async fn close_cleanly(mut self) {
        let _ = self.sink.close().await;
        drain(&self.shared, self.index, &mut self.inbound).await;
    }

    /// Abrupt (no close frame), but without losing what was already sent: dropping a socket
    /// whose inbound side holds unread bytes (acks) makes the kernel send RST, and an RST makes
    /// the client's kernel discard frames it received but had not read yet. So half-close (FIN
    /// after the data) and read until the client hangs up, at most a second.
    async fn drop_abruptly(self) {
        let Ok(mut socket) = self.sink.reunite(self.inbound) else {
            return;
        };
        let _ = socket.get_mut().shutdown().await;
        drain(&self.shared, self.index, &mut socket).await;
    }
}

/// Records (and lets go unanswered) what the client still sends, until it hangs up or a
/// second passes.
async fn drain<S>(shared: &Shared, index: usize, inbound: &mut S)
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let read = async {
        while let Some(Ok(message)) = inbound.next().await {
            if let Message::Binary(bytes) = message {
                on_client_frame(shared, index, &bytes);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), read).await;
}

/// Records an accepted handshake, unfreezes, and adds `Handshake-Options` when configured.
// The error type is tungstenite's callback contract, not ours to shrink.
#[allow(clippy::result_large_err)]
fn handshake(
    shared: &Shared,
    request: &Request,
    mut response: WsResponse,
    slot: &Mutex<Option<usize>>,
) -> Result<WsResponse, ErrorResponse> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let index = record_connection(
        shared,
        request.uri().query(),
        header("cookie"),
        header("user-agent"),
        false,
    );
    shared.control().frozen = false;
    if let Ok(mut s) = slot.lock() {
        *s = Some(index);
    }
    if let Some(interval) = shared.config.handshake_ping_interval {
        if let Ok(v) = format!("ping-interval={}", interval.as_secs_f64()).parse() {
            response.headers_mut().insert("handshake-options", v);
        }
    }
    Ok(response)
}

/// Records a handshake; returns its index in [`crate::Duties::connections`].
fn record_connection(
    shared: &Shared,
    query: Option<&str>,
    cookie: Option<String>,
    user_agent: Option<String>,
    rejected: bool,
) -> usize {
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let fresh_token = {
        let mut control = shared.control();
        match query
            .get("sim_token")
            .and_then(|t| control.tokens.get_mut(t))
        {
            Some(used) if !*used => {
                *used = true;
                true
            }
            _ => false,
        }
    };
    let mut duties = shared.duties();
    duties.connections.push(ConnectionObservation {
        query,
        cookie,
        user_agent,
        fresh_token,
        rejected,
        at: Instant::now(),
    });
    duties.connections.len() - 1
}

/// Answers a handshake with HTTP 200 and TikTok's `handshake-status` / `handshake-msg`
/// headers. Written by hand: tungstenite refuses to send a successful status as a rejection.
async fn reject(mut stream: TcpStream, shared: &Shared, status: u16, message: &str) {
    let Some(head) = read_request_head(&mut stream).await else {
        return;
    };
    let request = RequestHead::parse(&head);
    record_connection(
        shared,
        request.query,
        request.cookie,
        request.user_agent,
        true,
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nhandshake-status: {status}\r\nhandshake-msg: {message}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The HTTP request head (up to the blank line, at most 16 KiB), within two seconds.
async fn read_request_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// What a refused handshake is recorded with.
struct RequestHead<'a> {
    query: Option<&'a str>,
    cookie: Option<String>,
    user_agent: Option<String>,
}

impl<'a> RequestHead<'a> {
    fn parse(head: &'a str) -> RequestHead<'a> {
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default();
        let mut request = RequestHead {
            query: target.split_once('?').map(|(_, q)| q),
            cookie: None,
            user_agent: None,
        };
        for (name, value) in lines.filter_map(|line| line.split_once(':')) {
            let value = Some(value.trim().to_owned());
            match name.trim().to_ascii_lowercase().as_str() {
                "cookie" => request.cookie = value,
                "user-agent" => request.user_agent = value,
                _ => {}
            }
        }
        request
    }
}

/// Records a frame from the client; returns the reply to send, if any.
fn on_client_frame(shared: &Shared, connection: usize, bytes: &[u8]) -> Option<Vec<u8>> {
    let Ok(frame) = frame::decode_push_frame(bytes) else {
        shared.duties().unexpected_frames += 1;
        return None;
    };
    let mut duties = shared.duties();
    match frame.payload_type.as_str() {
        PAYLOAD_ENTER_ROOM => {
            let room_id = WebcastImEnterRoomMessage::decode(frame.payload.as_slice())
                .map_or(0, |m| m.room_id);
            duties.enter_rooms.push((connection, room_id));
            Some(frame::push_frame(PAYLOAD_ENTER_ROOM_RESP, 0, Vec::new()))
        }
        PAYLOAD_HEARTBEAT => {
            let hb = HeartBeatMessage::decode(frame.payload.as_slice()).unwrap_or_default();
            duties.heartbeats.push(HeartbeatObservation {
                connection,
                // Declared uint64 on the wire; room ids fit i64, like every id we keep.
                room_id: i64::try_from(hb.room_id).unwrap_or(-1),
                seq: hb.send_packet_seq_id,
                at: Instant::now(),
            });
            Some(frame::push_frame(PAYLOAD_HEARTBEAT, 0, Vec::new()))
        }
        PAYLOAD_ACK => {
            let internal_ext = String::from_utf8_lossy(&frame.payload).into_owned();
            let matched = duties
                .awaiting_ack
                .iter()
                .any(|(log_id, ext)| *log_id == frame.log_id && *ext == internal_ext);
            duties.acks.push(AckObservation {
                connection,
                log_id: frame.log_id,
                internal_ext,
                matched,
            });
            None
        }
        _ => {
            duties.unexpected_frames += 1;
            None
        }
    }
}
