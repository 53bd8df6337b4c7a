//! The simulator's HTTP side, with axum: the sign server (`/webcast/fetch`) and the two room
//! lookup endpoints (the live page with its SIGI_STATE, and api-live).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lifecycle::Shutdown;
use prost::Message as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

use crate::config::LookupMode;
use crate::duties::{FetchObservation, LookupEndpoint, LookupObservation};
use crate::messages::{self, Meta};
use crate::state::Shared;

/// msg_id of the history comment replayed by every fetch.
const HISTORY_MSG_ID: i64 = 7_399_999_999_999_999_999;
/// msg_id of the stream-end control message put in the fetch history on request.
const HISTORY_END_MSG_ID: i64 = 7_399_999_999_999_999_998;

/// Serves until the shutdown fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: Shutdown) {
    let app = Router::new()
        .route("/webcast/fetch", get(fetch))
        .route("/webcast/fetch/", get(fetch))
        .route("/api-live/user/room", get(api_live))
        .route("/api-live/user/room/", get(api_live))
        .route("/{handle}/live", get(live_page))
        .with_state(shared);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "simulator HTTP server stopped");
    }
}

/// `GET /webcast/fetch`: checks the API key, answers a failure the handle asked for, else a
/// signed fetch result with its cookies.
async fn fetch(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let api_key_ok = match &shared.config.api_key {
        Some(key) => headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(key.as_str()),
        None => true,
    };
    let forced = {
        let mut control = shared.control();
        (!control.fetch_failures.is_empty()).then(|| control.fetch_failures.remove(0))
    };
    let status = match (api_key_ok, forced) {
        (false, _) => 401,
        (true, Some(status)) => status,
        (true, None) => 200,
    };
    let fetch_no = record_fetch(&shared, &query, api_key_ok, status);
    if status != 200 {
        return refusal(status, shared.control().rate_limit_reset);
    }
    signed(&shared, fetch_no)
}

/// Records a fetch; returns its number (from 1).
fn record_fetch(
    shared: &Shared,
    query: &HashMap<String, String>,
    api_key_ok: bool,
    status: u16,
) -> usize {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let mut duties = shared.duties();
    duties.fetches.push(FetchObservation {
        room_id: param("room_id"),
        client: param("client"),
        user_agent: param("user_agent"),
        api_key_ok,
        status,
        at: Instant::now(),
    });
    duties.fetches.len()
}

/// A failed fetch as Euler answers it: a JSON message, and for a 429 the seconds until the
/// limit resets ("2", or "0.5" for tests in a hurry).
fn refusal(status: u16, rate_limit_reset: Duration) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "message": format!("simulated HTTP {status}"), "limit_label": "sim" });
    let mut response = (code, body.to_string()).into_response();
    if status == 429 {
        if let Ok(reset) = HeaderValue::from_str(&rate_limit_reset.as_secs_f64().to_string()) {
            response.headers_mut().insert("ratelimit-reset", reset);
        }
        response
            .headers_mut()
            .insert("ratelimit-remaining", HeaderValue::from_static("0"));
    }
    response
}

/// A signed fetch: the fetch result (push server, route params with a fresh token, history)
/// as protobuf, and the cookies for the WebSocket in `x-set-tt-cookie`.
fn signed(shared: &Shared, fetch_no: usize) -> Response {
    let token = format!("sim-token-{fetch_no}");
    shared.control().tokens.insert(token.clone(), false);
    let now_ms = chrono::Utc::now().timestamp_millis();
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
        messages: history(shared, now_ms),
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
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    let cookies = format!("ttwid=sim-ttwid-{fetch_no}; tt_csrf_token=sim-csrf");
    for (name, value) in [
        ("x-set-tt-cookie", cookies),
        ("x-room-id", shared.room_id().to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The history a fetch replays: one comment (always the same msg_id) unless turned off, and
/// the stream's end when the handle asked for it.
fn history(shared: &Shared, now_ms: i64) -> Vec<BaseProtoMessage> {
    let end_in_fetch = shared.control().end_in_fetch;
    let meta = |msg_id| Meta {
        msg_id,
        room_id: shared.room_id(),
        now_ms,
    };
    let comment = shared.config.history_in_fetch.then(|| {
        messages::comment(meta(HISTORY_MSG_ID), "early_bird", "first! 🥇").to_base(HISTORY_MSG_ID)
    });
    let end = end_in_fetch.map(|action| {
        messages::control(meta(HISTORY_END_MSG_ID), action).to_base(HISTORY_END_MSG_ID)
    });
    comment
        .into_iter()
        .chain(end)
        .map(|base| BaseProtoMessage {
            is_history: true,
            ..base
        })
        .collect()
}

/// Records a room lookup request.
fn record_lookup(shared: &Shared, endpoint: LookupEndpoint, username: &str) {
    shared.duties().lookups.push(LookupObservation {
        endpoint,
        username: username.to_owned(),
        at: Instant::now(),
    });
}

/// The live page's status of the room: 2 live, 4 offline.
fn live_status(live: bool) -> u8 {
    if live {
        2
    } else {
        4
    }
}

/// `GET /@{user}/live`: the live page, whose SIGI_STATE holds the room id and its status.
async fn live_page(State(shared): State<Arc<Shared>>, Path(handle): Path<String>) -> Response {
    let username = handle.strip_prefix('@').unwrap_or(&handle);
    record_lookup(&shared, LookupEndpoint::LivePage, username);
    let control = shared.control();
    let known = username == shared.config.username;
    let state = match (control.lookup, known) {
        (LookupMode::Captcha | LookupMode::LivePageBlocked, _) => {
            return (
                StatusCode::OK,
                "<html><body>Please verify you are human</body></html>",
            )
                .into_response()
        }
        (_, false) | (LookupMode::AgeRestricted, true) => json!({}),
        (LookupMode::LivePageWithoutRoom, true) => {
            json!({"LiveRoom": {"liveRoomUserInfo": {
                "user": {"uniqueId": shared.config.username, "status": 2},
                "liveRoom": {}
            }}})
        }
        (_, true) => {
            let status = live_status(control.lookup == LookupMode::Live && control.live);
            json!({"LiveRoom": {"liveRoomUserInfo": room_info(&shared, status)}})
        }
    };
    let html = format!("<!DOCTYPE html><html><head><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></head><body></body></html>");
    (StatusCode::OK, [("content-type", "text/html")], html).into_response()
}

/// `GET /api-live/user/room/?uniqueId=…`: the room as JSON, or TikTok's error codes.
async fn api_live(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let username = query
        .get("uniqueId")
        .map(String::as_str)
        .unwrap_or_default();
    record_lookup(&shared, LookupEndpoint::ApiLive, username);
    let control = shared.control();
    let known = username == shared.config.username;
    let body = match (control.lookup, known) {
        (LookupMode::Captcha, _) => {
            return (StatusCode::OK, "<html>captcha</html>").into_response()
        }
        (_, false) => json!({"statusCode": 19_881_007, "message": "user_not_found"}),
        (LookupMode::AgeRestricted, true) => {
            json!({"statusCode": 4_003_110, "data": {"prompts": ""}})
        }
        (_, true) => {
            let status = live_status(control.lookup.api_says_live() && control.live);
            json!({"statusCode": 0, "data": room_info(&shared, status)})
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The user and room the lookup endpoints describe.
fn room_info(shared: &Shared, status: u8) -> Value {
    json!({
        "user": {"roomId": shared.room_id().to_string(), "uniqueId": shared.config.username, "status": status},
        "liveRoom": {"status": status}
    })
}
