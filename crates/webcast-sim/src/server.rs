//! The simulator's servers: HTTP (sign server and room lookup) with axum, and the WebSocket
//! push server with tokio-tungstenite.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::Message;

use crate::messages::{self, Meta};
use crate::{
    AckObservation, ConnectionObservation, FetchObservation, HeartbeatObservation, LookupEndpoint,
    LookupMode, LookupObservation, Outbound, Shared,
};
use webcast::frame::{
    self, PAYLOAD_ACK, PAYLOAD_ENTER_ROOM, PAYLOAD_ENTER_ROOM_RESP, PAYLOAD_HEARTBEAT,
};
use webcast::proto::{
    HeartBeatMessage, ProtoMessageFetchResult, WebcastImEnterRoomMessage, WebcastPushFrame,
};

/// msg_id of the history comment replayed by every fetch.
const HISTORY_MSG_ID: i64 = 7_399_999_999_999_999_999;
/// msg_id of the stream-end control message put in the fetch history on request.
const HISTORY_END_MSG_ID: i64 = 7_399_999_999_999_999_998;

pub(super) async fn serve_http(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/webcast/fetch", get(fetch))
        .route("/webcast/fetch/", get(fetch))
        .route("/api-live/user/room", get(api_live))
        .route("/api-live/user/room/", get(api_live))
        .route("/{handle}/live", get(live_page))
        .with_state(shared);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "simulator HTTP server stopped");
    }
}

async fn fetch(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let api_key_ok = match &shared.config.api_key {
        Some(key) => headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(key.as_str()),
        None => true,
    };
    let (forced, rate_limit_reset, end_in_fetch) = {
        let mut control = shared.lock_control();
        let forced = (!control.fetch_failures.is_empty()).then(|| control.fetch_failures.remove(0));
        (forced, control.rate_limit_reset, control.end_in_fetch)
    };
    let status = match (api_key_ok, forced) {
        (false, _) => 401,
        (true, Some(status)) => status,
        (true, None) => 200,
    };
    let fetch_no = {
        let mut duties = shared.lock_duties();
        duties.fetches.push(FetchObservation {
            room_id: query.get("room_id").cloned().unwrap_or_default(),
            client: query.get("client").cloned().unwrap_or_default(),
            user_agent: query.get("user_agent").cloned().unwrap_or_default(),
            api_key_ok,
            status,
            at: Instant::now(),
        });
        duties.fetches.len()
    };
    if status != 200 {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({ "message": format!("simulated HTTP {status}"), "limit_label": "sim" }).to_string();
        let mut response = (code, body).into_response();
        if status == 429 {
            // Seconds until the reset, as Euler sends it ("2", or "0.5" for tests in a hurry).
            if let Ok(reset) = HeaderValue::from_str(&rate_limit_reset.as_secs_f64().to_string()) {
                response.headers_mut().insert("ratelimit-reset", reset);
            }
            response
                .headers_mut()
                .insert("ratelimit-remaining", HeaderValue::from_static("0"));
        }
        return response;
    }
    let token = format!("sim-token-{fetch_no}");
    shared.lock_control().tokens.insert(token.clone(), false);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut messages = Vec::new();
    if shared.config.history_in_fetch {
        let meta = Meta {
            msg_id: HISTORY_MSG_ID,
            room_id: shared.room_id,
            now_ms,
        };
        let mut base = messages::comment(meta, "early_bird", "first! 🥇").to_base(HISTORY_MSG_ID);
        base.is_history = true;
        messages.push(base);
    }
    if let Some(action) = end_in_fetch {
        let meta = Meta {
            msg_id: HISTORY_END_MSG_ID,
            room_id: shared.room_id,
            now_ms,
        };
        let mut base = messages::control(meta, action).to_base(HISTORY_END_MSG_ID);
        base.is_history = true;
        messages.push(base);
    }
    let cursor = format!("sim-fetch-cursor-{fetch_no}");
    let internal_ext = format!("internal_ext:sim-fetch-{fetch_no}");
    let route_params = [
        ("sim_token", token.as_str()),
        ("cursor", cursor.as_str()),
        ("internal_ext", internal_ext.as_str()),
        ("imprp", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let result = ProtoMessageFetchResult {
        messages,
        cursor,
        fetch_interval: 1000,
        now: now_ms,
        internal_ext,
        fetch_type: 1,
        route_params,
        heartbeat_duration: 10_000,
        need_ack: false,
        push_server: shared.ws_url.clone(),
        is_first: true,
        ..Default::default()
    };
    let mut response = (StatusCode::OK, result.encode_to_vec()).into_response();
    let h = response.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "ttwid=sim-ttwid-{fetch_no}; tt_csrf_token=sim-csrf"
    )) {
        h.insert("x-set-tt-cookie", v);
    }
    if let Ok(v) = HeaderValue::from_str(&shared.room_id.to_string()) {
        h.insert("x-room-id", v);
    }
    response
}

/// Records a room lookup request.
fn record_lookup(shared: &Shared, endpoint: LookupEndpoint, username: &str) {
    shared.lock_duties().lookups.push(LookupObservation {
        endpoint,
        username: username.to_owned(),
        at: Instant::now(),
    });
}

async fn live_page(State(shared): State<Arc<Shared>>, Path(handle): Path<String>) -> Response {
    let username = handle.strip_prefix('@').unwrap_or(&handle);
    record_lookup(&shared, LookupEndpoint::LivePage, username);
    let control = shared.lock_control();
    let known = username == shared.config.username;
    let state = match (control.lookup, known) {
        (LookupMode::Captcha | LookupMode::LivePageBlocked, _) => {
            return (
                StatusCode::OK,
                "<html><body>Please verify you are human</body></html>",
            )
                .into_response()
        }
        (_, false) => serde_json::json!({}),
        (LookupMode::AgeRestricted, true) => serde_json::json!({}),
        (LookupMode::LivePageWithoutRoom, true) => {
            serde_json::json!({"LiveRoom": {"liveRoomUserInfo": {
                "user": {"uniqueId": shared.config.username, "status": 2},
                "liveRoom": {}
            }}})
        }
        (_, true) => {
            let status = if control.lookup == LookupMode::Live && control.live {
                2
            } else {
                4
            };
            serde_json::json!({"LiveRoom": {"liveRoomUserInfo": {
                "user": {"roomId": shared.room_id.to_string(), "uniqueId": shared.config.username, "status": status},
                "liveRoom": {"status": status}
            }}})
        }
    };
    let html = format!("<!DOCTYPE html><html><head><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></head><body></body></html>");
    (StatusCode::OK, [("content-type", "text/html")], html).into_response()
}

async fn api_live(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let username = query
        .get("uniqueId")
        .map(String::as_str)
        .unwrap_or_default();
    record_lookup(&shared, LookupEndpoint::ApiLive, username);
    let control = shared.lock_control();
    let known = username == shared.config.username;
    let body = match (control.lookup, known) {
        (LookupMode::Captcha, _) => {
            return (StatusCode::OK, "<html>captcha</html>").into_response()
        }
        (_, false) => serde_json::json!({"statusCode": 19_881_007, "message": "user_not_found"}),
        (LookupMode::AgeRestricted, true) => {
            serde_json::json!({"statusCode": 4_003_110, "data": {"prompts": ""}})
        }
        (_, true) => {
            let status = if control.lookup.api_says_live() && control.live {
                2
            } else {
                4
            };
            serde_json::json!({"statusCode": 0, "data": {
                "user": {"roomId": shared.room_id.to_string(), "uniqueId": shared.config.username, "status": status},
                "liveRoom": {"status": status}
            }})
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) async fn serve_ws(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, shared.clone(), shutdown.clone()));
                }
                Err(error) => tracing::warn!(%error, "simulator accept failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Records an accepted handshake and adds `Handshake-Options` when configured.
// The error type is tungstenite's callback contract, not ours to shrink.
#[allow(clippy::result_large_err)]
fn handshake(
    shared: &Shared,
    request: &Request,
    response: WsResponse,
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
    shared.lock_control().frozen = false;
    if let Ok(mut s) = slot.lock() {
        *s = Some(index);
    }
    let mut response = response;
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
        let mut control = shared.lock_control();
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
    let mut duties = shared.lock_duties();
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), read_head)
        .await
        .is_err()
    {
        return;
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q);
    let mut cookie = None;
    let mut user_agent = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "cookie" => cookie = Some(value.trim().to_owned()),
                "user-agent" => user_agent = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    record_connection(shared, query, cookie, user_agent, true);
    let response = format!(
        "HTTP/1.1 200 OK\r\nhandshake-status: {status}\r\nhandshake-msg: {message}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let rejection = {
        let mut control = shared.lock_control();
        (!control.handshake_rejections.is_empty()).then(|| control.handshake_rejections.remove(0))
    };
    if let Some((status, message)) = rejection {
        reject(stream, &shared, status, &message).await;
        return;
    }
    let slot = Arc::new(Mutex::new(None));
    #[allow(clippy::result_large_err)]
    let callback = {
        let shared = shared.clone();
        let slot = slot.clone();
        move |request: &Request, response: WsResponse| handshake(&shared, request, response, &slot)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, callback).await {
        Ok(ws) => ws,
        Err(error) => {
            tracing::debug!(%error, "simulator handshake ended without a WebSocket");
            return;
        }
    };
    let Some(index) = slot.lock().ok().and_then(|s| *s) else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Outbound>(256);
    *shared.lock_current() = Some((index, tx));
    shared.connected.notify_waiters();
    let (mut sink, mut inbound) = ws.split();
    let frozen = || shared.lock_control().frozen;
    loop {
        tokio::select! {
            message = inbound.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(reply) = client_frame(&shared, index, &bytes) {
                        if !frozen() && sink.send(Message::Binary(reply.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            out = rx.recv(), if !frozen() => match out {
                Some(Outbound::Frame(bytes)) => {
                    if sink.send(Message::Binary(bytes.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close) => {
                    // A clean close: send the close frame, then keep reading (acks of the last
                    // frames) until the client answers the close or a second passes.
                    let _ = sink.close().await;
                    let drain = async {
                        while let Some(Ok(message)) = inbound.next().await {
                            if let Message::Binary(bytes) = message {
                                client_frame(&shared, index, &bytes);
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                    break;
                }
                Some(Outbound::Drop) => {
                    // Abrupt (no close frame), but without losing what was already sent:
                    // dropping a socket whose inbound side holds unread bytes (acks) makes the
                    // kernel send RST, and an RST makes the client's kernel discard frames it
                    // received but had not read yet. So half-close (FIN after the data) and
                    // read until the client hangs up, at most a second.
                    if let Ok(mut ws) = sink.reunite(inbound) {
                        use tokio::io::AsyncWriteExt as _;
                        let _ = ws.get_mut().shutdown().await;
                        let drain = async {
                            while let Some(Ok(message)) = ws.next().await {
                                if let Message::Binary(bytes) = message {
                                    client_frame(&shared, index, &bytes);
                                }
                            }
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                    }
                    break;
                }
                None => break,
            },
            // Re-check the frozen flag now and then so a freeze is noticed without traffic.
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = shutdown.changed() => break,
        }
    }
    let mut current = shared.lock_current();
    if current.as_ref().is_some_and(|(i, _)| *i == index) {
        *current = None;
    }
}

/// Records a frame from the client; returns the reply to send, if any.
fn client_frame(shared: &Shared, connection: usize, bytes: &[u8]) -> Option<Vec<u8>> {
    let Ok(frame) = frame::decode_push_frame(bytes) else {
        shared.lock_duties().unexpected_frames += 1;
        return None;
    };
    let mut duties = shared.lock_duties();
    match frame.payload_type.as_str() {
        PAYLOAD_ENTER_ROOM => {
            let room_id = WebcastImEnterRoomMessage::decode(frame.payload.as_slice())
                .map_or(0, |m| m.room_id);
            duties.enter_rooms.push((connection, room_id));
            Some(server_frame(PAYLOAD_ENTER_ROOM_RESP, Vec::new()))
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
            Some(server_frame(PAYLOAD_HEARTBEAT, Vec::new()))
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

fn server_frame(payload_type: &str, payload: Vec<u8>) -> Vec<u8> {
    WebcastPushFrame {
        payload_encoding: frame::ENCODING_PB.to_owned(),
        payload_type: payload_type.to_owned(),
        payload,
        ..Default::default()
    }
    .encode_to_vec()
}
