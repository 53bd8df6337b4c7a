//! The simulator's HTTP side, with axum: the sign server (`/webcast/fetch`, `/webcast/room_id`),
//! the two room lookup endpoints (the live page with its SIGI_STATE, and api-live), and
//! TikTok's live check (`/webcast/room/check_alive/`).

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
use crate::duties::{FetchObservation, LookupEndpoint, LookupObservation, RequestObservation};
use crate::messages::{self, Meta};
use crate::state::Shared;

/// msg_id of the history comment replayed by every fetch.
const HISTORY_MSG_ID: i64 = 7_399_999_999_999_999_999;
/// msg_id of the stream-end control message put in the fetch history on request.
const HISTORY_END_MSG_ID: i64 = 7_399_999_999_999_999_998;
/// The push server of the provider's fallback stub: its own relay, not TikTok's. `.invalid`:
/// a client that failed to recognise it could never reach it.
const FALLBACK_RELAY: &str = "wss://ws-fallback.eulerstream.invalid/?token=sim-stub";
/// A captcha page, what TikTok's firewall answers instead of the live page.
const CAPTCHA: &str = "<html><body>Please verify you are human</body></html>";

/// Serves until the shutdown fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: Shutdown) {
    let app = Router::new()
        .route("/webcast/fetch", get(fetch))
        .route("/webcast/fetch/", get(fetch))
        .route("/webcast/room_id", get(sign_room_id))
        .route("/webcast/room/check_alive/", get(check_alive))
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
    let session_cookie = header(&headers, "x-cookie-header");
    let fetch_no = record_fetch(&shared, &query, api_key_ok, session_cookie, status);
    if status != 200 {
        let control = shared.control();
        return refusal(
            status,
            control.rate_limit_reset,
            control.rate_limit_header.name(),
        );
    }
    let stub = {
        let mut control = shared.control();
        let stub = control.stub_fetches > 0;
        control.stub_fetches = control.stub_fetches.saturating_sub(1);
        stub
    };
    signed(&shared, fetch_no, stub)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What tells a browser from a bare client.
fn observe(headers: &HeaderMap, query: &HashMap<String, String>) -> RequestObservation {
    RequestObservation {
        query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        cookie: header(headers, "cookie"),
        user_agent: header(headers, "user-agent"),
        accept_language: header(headers, "accept-language"),
        referer: header(headers, "referer"),
    }
}

/// `GET /webcast/room_id?uniqueId=…`: the sign server's own room lookup, as its OpenAPI
/// describes the answer. A paid feature of the public server: it answers 402 unless the lookup
/// mode is [`LookupMode::SignServerOnly`] (a paying user's server).
async fn sign_room_id(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let username = query.get("uniqueId").cloned().unwrap_or_default();
    record_lookup(
        &shared,
        LookupEndpoint::SignServer,
        &username,
        observe(&headers, &query),
    );
    let (mode, live) = {
        let control = shared.control();
        (control.lookup, control.live)
    };
    if mode != LookupMode::SignServerOnly {
        let body = json!({"code": 402, "message": "Requires Business Plan"});
        return (StatusCode::PAYMENT_REQUIRED, body.to_string()).into_response();
    }
    let known = username == shared.config.username;
    let body = json!({
        "code": 200,
        "ok": true,
        "message": "",
        "room_id": known.then(|| shared.room_id().to_string()),
        "is_live": known && live,
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `GET /webcast/room/check_alive/?room_ids=…`: whether each room is live (ours until its
/// stream ended, others never).
async fn check_alive(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    shared.duties().alive_checks.push(Instant::now());
    let live = shared.control().live;
    let data: Vec<Value> = query
        .get("room_ids")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.trim().parse::<i64>().ok())
        .map(|id| {
            json!({"alive": live && id == shared.room_id(), "room_id": id, "room_id_str": id.to_string()})
        })
        .collect();
    let body = json!({"data": data, "extra": {"now": chrono::Utc::now().timestamp_millis()}, "status_code": 0});
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Records a fetch; returns its number (from 1).
fn record_fetch(
    shared: &Shared,
    query: &HashMap<String, String>,
    api_key_ok: bool,
    session_cookie: Option<String>,
    status: u16,
) -> usize {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let mut duties = shared.duties();
    duties.fetches.push(FetchObservation {
        room_id: param("room_id"),
        client: param("client"),
        user_agent: param("user_agent"),
        api_key_ok,
        session_cookie,
        status,
        at: Instant::now(),
    });
    duties.fetches.len()
}

/// A failed fetch as Euler answers it: a JSON message, and for a 429 the seconds until the
/// limit resets ("2", or "0.5" for tests in a hurry) in `reset_header`.
fn refusal(status: u16, rate_limit_reset: Duration, reset_header: &'static str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "message": format!("simulated HTTP {status}"), "limit_label": "sim" });
    let mut response = (code, body.to_string()).into_response();
    if status == 429 {
        if let Ok(reset) = HeaderValue::from_str(&rate_limit_reset.as_secs_f64().to_string()) {
            response.headers_mut().insert(reset_header, reset);
        }
        response
            .headers_mut()
            .insert("ratelimit-remaining", HeaderValue::from_static("0"));
    }
    response
}

/// A signed fetch: the fetch result (push server, route params with a fresh token, history)
/// as protobuf, the cookies for the WebSocket in `x-set-tt-cookie` and the room in
/// `x-room-id`. A `stub` answer points at the provider's fallback relay instead.
fn signed(shared: &Shared, fetch_no: usize, stub: bool) -> Response {
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
        push_server: if stub {
            FALLBACK_RELAY.to_owned()
        } else {
            shared.ws_url.clone()
        },
        is_first: true,
        ..Default::default()
    };
    let room_id = shared.control().signed_room_id.unwrap_or(shared.room_id());
    let mut response = (StatusCode::OK, result.encode_to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    let cookies = format!("ttwid=sim-ttwid-{fetch_no}; tt_csrf_token=sim-csrf");
    for (name, value) in [
        ("x-set-tt-cookie", cookies),
        ("x-room-id", room_id.to_string()),
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
fn record_lookup(
    shared: &Shared,
    endpoint: LookupEndpoint,
    username: &str,
    request: RequestObservation,
) {
    shared.duties().lookups.push(LookupObservation {
        endpoint,
        username: username.to_owned(),
        request,
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
async fn live_page(
    State(shared): State<Arc<Shared>>,
    Path(handle): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let username = handle.strip_prefix('@').unwrap_or(&handle);
    let request = observe(&headers, &query);
    let browser_like = request.is_browser_like();
    record_lookup(&shared, LookupEndpoint::LivePage, username, request);
    let control = shared.control();
    let known = username == shared.config.username;
    let state = match (control.lookup, known) {
        (
            LookupMode::Captcha
            | LookupMode::LivePageBlocked
            | LookupMode::ApiUnexpectedStatus
            | LookupMode::SignServerOnly,
            _,
        ) => return (StatusCode::OK, CAPTCHA).into_response(),
        (LookupMode::BrowserOnly, _) if !browser_like => {
            return (StatusCode::OK, CAPTCHA).into_response()
        }
        (_, false) | (LookupMode::AgeRestricted, true) => json!({}),
        (LookupMode::LivePageWithoutRoom, true) => {
            json!({"LiveRoom": {"liveRoomUserInfo": {
                "user": {"uniqueId": shared.config.username, "status": 2},
                "liveRoom": {}
            }}})
        }
        (_, true) => {
            let live = matches!(control.lookup, LookupMode::Live | LookupMode::BrowserOnly);
            let status = live_status(live && control.live);
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
    headers: HeaderMap,
) -> Response {
    let username = query.get("uniqueId").cloned().unwrap_or_default();
    let request = observe(&headers, &query);
    let browser_like = request.is_browser_like();
    record_lookup(&shared, LookupEndpoint::ApiLive, &username, request);
    let control = shared.control();
    let known = username == shared.config.username;
    let body = match (control.lookup, known) {
        (LookupMode::Captcha | LookupMode::SignServerOnly, _) => {
            return (StatusCode::OK, "<html>captcha</html>").into_response()
        }
        (LookupMode::BrowserOnly, _) if !browser_like => {
            return (StatusCode::OK, "<html>captcha</html>").into_response()
        }
        (_, false) => json!({"statusCode": 19_881_007, "message": "user_not_found"}),
        (LookupMode::AgeRestricted, true) => {
            json!({"statusCode": 4_003_110, "data": {"prompts": ""}})
        }
        (LookupMode::ApiUnexpectedStatus, true) => {
            // A status TikTok never used before: neither live (2, 3) nor offline (4).
            json!({"statusCode": 0, "data": room_info(&shared, 7)})
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
