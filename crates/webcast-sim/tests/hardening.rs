//! The failure modes the peers hit in real captures (issue 16), each against a simulator that
//! misbehaves the same way: a firewall that wants a browser, an api-live status never seen, a
//! LIVE that ends without a word behind an open socket, a combo end after the timeout, the
//! sign server's rate-limit headers, its X-Room-Id, its fallback stub; and the WebSocket
//! parameters the peers send.

use std::time::Duration;

use events::EventType;
use webcast::client::{ClientEvent, ConnectionStatus, StopReason, DEFAULT_USER_AGENT};
use webcast_sim::{
    LookupEndpoint, LookupMode, RateLimitHeader, Simulator, SimulatorConfig, SimulatorHandle,
};

mod common;

use common::*;

async fn simulator() -> SimulatorHandle {
    Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator")
}

fn is_connected(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_lookup_is_browser_like_and_gets_past_a_firewall_that_wants_one() {
    let sim = simulator().await;
    sim.set_lookup(LookupMode::BrowserOnly);
    let mut client = run(client_config(&sim));
    client.until(is_connected).await;
    let duties = sim.duties();
    let page = &duties.lookups[0];
    assert_eq!(page.endpoint, LookupEndpoint::LivePage);
    assert!(page.request.is_browser_like(), "{:?}", page.request);
    assert!(page
        .request
        .cookie
        .as_deref()
        .is_some_and(|c| c.contains("tt-target-idc=useast1a")));
    assert_eq!(page.request.user_agent.as_deref(), Some(DEFAULT_USER_AGENT));
    assert_eq!(duties.lookups.len(), 1, "the live page answered");
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);

    // api-live carries the web client's parameters too.
    sim.set_lookup(LookupMode::LivePageBlocked);
    let mut client = run(client_config(&sim));
    client.until(is_connected).await;
    let duties = sim.duties();
    let api = duties
        .lookups
        .iter()
        .find(|l| l.endpoint == LookupEndpoint::ApiLive)
        .expect("api-live asked");
    assert!(api.request.is_browser_like());
    for key in [
        "aid",
        "app_language",
        "browser_language",
        "browser_name",
        "browser_platform",
        "browser_version",
        "device_platform",
        "screen_width",
        "screen_height",
        "tz_name",
        "webcast_language",
        "user_is_login",
        "sourceType",
    ] {
        assert!(api.request.query.contains_key(key), "api-live misses {key}");
    }
    assert_eq!(api.request.query["user_is_login"], "false");
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_live_status_never_seen_still_gives_the_room() {
    let sim = simulator().await;
    sim.set_lookup(LookupMode::ApiUnexpectedStatus);
    let mut client = run(client_config(&sim));
    let seen = client.until(is_connected).await;
    assert!(
        seen.contains(&ClientEvent::Status(ConnectionStatus::RoomResolved {
            room_id: sim.room_id()
        }))
    );
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_server_finds_the_room_when_tiktok_will_not() {
    let sim = Simulator::start(SimulatorConfig {
        api_key: Some("sk-room".into()),
        ..Default::default()
    })
    .await
    .expect("simulator");
    sim.set_lookup(LookupMode::SignServerOnly);
    let mut config = client_config(&sim);
    config.api_key = Some(webcast::sign::Secret::new("sk-room"));
    let mut client = run(config);
    let seen = client.until(is_connected).await;
    assert!(
        seen.contains(&ClientEvent::Status(ConnectionStatus::RoomResolved {
            room_id: sim.room_id()
        }))
    );
    let endpoints: Vec<LookupEndpoint> = sim.duties().lookups.iter().map(|l| l.endpoint).collect();
    assert_eq!(
        endpoints,
        [
            LookupEndpoint::LivePage,
            LookupEndpoint::ApiLive,
            LookupEndpoint::SignServer
        ]
    );
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_that_ends_without_a_word_ends_the_session_through_the_live_check() {
    let sim = simulator().await;
    let mut config = client_config(&sim);
    config.alive_check_after = Duration::from_millis(400);
    config.watchdog_timeout = Duration::from_secs(30);
    let mut client = run(config);
    client.until(is_connected).await;
    // Data keeps the live check away.
    for i in 0..4 {
        sim.push(step(&format!(
            r#"{{"type": "comment", "user": "a", "text": "tick {i}"}}"#
        )));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        sim.duties().alive_checks.is_empty(),
        "no check while data flows"
    );
    // Then a Rose streak whose end never comes, and the LIVE ends without a control message:
    // the socket stays up and heartbeats are answered.
    sim.push(step(
        r#"{"type": "gift", "user": "b", "gift": "Rose", "count": 2, "lose_end": true}"#,
    ));
    assert!(sim.wait_idle(WAIT).await);
    sim.end_silently();
    let before = sim.duties().heartbeats.len();
    let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
    let duties = sim.duties();
    assert!(!duties.alive_checks.is_empty());
    assert!(
        duties.heartbeats.len() > before,
        "heartbeats went on meanwhile"
    );
    assert_eq!(duties.accepted_connections(), 1, "ended, not reconnected");
    let gift_ends: Vec<_> = captured(&seen)
        .into_iter()
        .filter(|e| e.event_type == EventType::Gift && !e.is_streaking())
        .collect();
    assert!(!gift_ends.is_empty(), "the open streak was closed first");
    assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rate_limit_header_is_honoured() {
    for header in [
        RateLimitHeader::RetryAfter,
        RateLimitHeader::XRateLimitReset,
        RateLimitHeader::RateLimitReset,
    ] {
        let sim = simulator().await;
        let reset = Duration::from_millis(1500);
        sim.set_rate_limit_reset(reset);
        sim.set_rate_limit_header(header);
        sim.fail_fetches(&[429]);
        let mut client = run(client_config(&sim));
        let seen = client.until(is_connected).await;
        assert!(
            seen.contains(&ClientEvent::Status(ConnectionStatus::Retrying {
                after: reset
            })),
            "{header:?}"
        );
        let fetches = sim.duties().fetches;
        let gap = fetches[1].at.duration_since(fetches[0].at);
        assert!(
            gap >= reset,
            "{header:?}: the second fetch came after {gap:?}"
        );
        assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_the_sign_server_answers_is_the_room_followed() {
    let sim = simulator().await;
    let moved = sim.room_id() + 5;
    sim.answer_room_id(moved);
    let mut client = run(client_config(&sim));
    let seen = client.until(is_connected).await;
    let rooms: Vec<i64> = seen
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status(ConnectionStatus::RoomResolved { room_id }) => Some(*room_id),
            _ => None,
        })
        .collect();
    assert_eq!(rooms, [sim.room_id(), moved]);
    let duties = sim
        .wait_for(WAIT, |d| !d.heartbeats.is_empty())
        .await
        .expect("heartbeats");
    assert_eq!(duties.enter_rooms, [(0, moved)]);
    assert_eq!(duties.heartbeats[0].room_id, moved);
    assert_eq!(duties.connections[0].query["room_id"], moved.to_string());
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_stub_is_a_sign_server_fault_with_a_clear_line() {
    let sim = simulator().await;
    sim.answer_fallback_stubs(2);
    let mut client = run(client_config(&sim));
    let seen = client.until(is_connected).await;
    let reasons: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status(ConnectionStatus::Disconnected { reason }) => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    for reason in reasons {
        assert!(reason.contains("fallback stub"), "{reason}");
        assert!(
            !reason.contains("sim-stub"),
            "the relay's token is not shown: {reason}"
        );
    }
    let duties = sim.duties();
    assert_eq!(duties.fetches.len(), 3);
    assert_eq!(duties.connections.len(), 1, "no handshake with the relay");
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_parameters_are_the_peers() {
    let sim = simulator().await;
    let mut client = run(client_config(&sim));
    client.until(is_connected).await;
    let connection = &sim.duties().connections[0];
    let query = &connection.query;
    for (key, want) in [
        ("aid", "1988"),
        ("app_name", "tiktok_web"),
        ("browser_name", "Mozilla"),
        ("browser_platform", "Win32"),
        ("device_platform", "web"),
        ("identity", "audience"),
        ("live_id", "12"),
        ("compress", "gzip"),
        ("resp_content_type", "protobuf"),
    ] {
        assert_eq!(query.get(key).map(String::as_str), Some(want), "{key}");
    }
    assert_eq!(
        query.get("browser_version").map(String::as_str),
        Some(&DEFAULT_USER_AGENT["Mozilla/".len()..])
    );
    for key in [
        "tz_name",
        "webcast_language",
        "app_language",
        "browser_language",
        "screen_width",
        "screen_height",
        "heartbeat_duration",
        "last_rtt",
        "room_id",
        "cursor",
        "internal_ext",
    ] {
        assert!(query.get(key).is_some_and(|v| !v.is_empty()), "{key}");
    }
    assert!(connection
        .cookie
        .as_deref()
        .is_some_and(|c| c.contains("ttwid=sim-ttwid-1") && c.contains("tt-target-idc=")));
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}
