//! The client against the simulator, over real loopback HTTP and WebSocket.

use std::time::Duration;

use events::{EventType, StreakStatus};
use webcast::client::{
    AttemptFailure, ClientConfig, ClientCounters, ClientError, ClientEvent, ConnectionStatus,
    StopReason, DEFAULT_USER_AGENT,
};
use webcast::room::RoomError;
use webcast::sign::{Secret, SignError};
use webcast_sim::{
    Fault, LookupEndpoint, LookupMode, RandomStream, Scenario, Simulator, SimulatorConfig, Step,
};

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_stream_end_to_end_with_duties() {
    let scenario = Scenario::from_json(
        r#"{"steps": [
            {"type": "join", "user": "alice"},
            {"type": "comment", "user": "alice", "text": "hello 👋 مرحبا"},
            {"type": "comment", "user": "mod_max", "text": "welcome"},
            {"type": "gift", "user": "bob", "gift": "Rose", "count": 3, "interval_ms": 30},
            {"type": "gift", "user": "bob", "gift": "Galaxy"},
            {"type": "like", "user": "carol", "count": 15},
            {"type": "follow", "user": "dave"},
            {"type": "share", "user": "dave"},
            {"type": "subscribe", "user": "erin", "months": 2},
            {"type": "super_fan", "user": "erin"},
            {"type": "viewers", "total": 120, "total_user": 1500},
            {"type": "pause", "ms": 300},
            {"type": "end"}
        ]}"#,
    )
    .expect("scenario");
    let sim = Simulator::start(SimulatorConfig {
        scenario,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let mut client = run(client_config(&sim));
    let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
    assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);

    assert!(
        seen.contains(&ClientEvent::Status(ConnectionStatus::RoomResolved {
            room_id: sim.room_id()
        }))
    );
    let events = captured(&seen);
    assert_eq!(
        comments(&events),
        vec!["first! 🥇", "hello 👋 مرحبا", "welcome"]
    );
    let moderator = of_type(&events, EventType::Comment)[2];
    assert_eq!(moderator.data["user"]["is_moderator"], true);
    assert!(moderator.data["user"]["gifter_level"].as_i64().unwrap_or(0) > 0);
    assert_eq!(of_type(&events, EventType::Join).len(), 1);
    assert_eq!(of_type(&events, EventType::Like)[0].data["like_count"], 15);
    assert_eq!(of_type(&events, EventType::Follow).len(), 1);
    assert_eq!(of_type(&events, EventType::Share).len(), 1);
    let subs = of_type(&events, EventType::Subscribe);
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].data["kind"], "became_super_fan");
    assert_eq!(subs[1].user_unique_id.as_deref(), Some("erin"));
    assert_eq!(
        of_type(&events, EventType::ViewerCount)[0].data["viewer_count"],
        120
    );
    assert_eq!(of_type(&events, EventType::LiveEnd).len(), 1);

    let gifts = of_type(&events, EventType::Gift);
    let statuses: Vec<_> = gifts
        .iter()
        .filter_map(|g| g.streak.as_ref().map(|s| s.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            StreakStatus::Start,
            StreakStatus::Continue,
            StreakStatus::Continue,
            StreakStatus::End
        ]
    );
    assert_eq!(gifts[3].data["streak_total_count"], 3);
    let galaxy = gifts
        .iter()
        .find(|g| g.data["gift"]["name"] == "Galaxy")
        .expect("galaxy");
    assert!(galaxy.streak.is_none());
    assert_eq!(galaxy.data["total_diamonds"], 1000);
    // Batches are per frame: never more batches than frames + the initial fetch.
    let batches = seen
        .iter()
        .filter(|e| matches!(e, ClientEvent::Events(_)))
        .count();
    let duties = sim.duties();
    assert!(
        batches <= duties.frames_sent + 1,
        "{batches} batches for {} frames",
        duties.frames_sent
    );
    assert!(
        duties.frames_sent < duties.messages_sent,
        "several messages per frame"
    );

    // Duties. The ack of the last frame may still be in flight when the client returns.
    let duties = sim
        .wait_for(WAIT, |d| d.unacked().is_empty())
        .await
        .unwrap_or_else(|summary| panic!("unacked frames: {summary}"));
    assert_eq!(duties.fetches.len(), 1);
    assert_eq!(duties.fetches[0].room_id, sim.room_id().to_string());
    assert_eq!(duties.fetches[0].user_agent, DEFAULT_USER_AGENT);
    let conn = &duties.connections[0];
    assert!(conn.fresh_token);
    assert_eq!(conn.user_agent.as_deref(), Some(DEFAULT_USER_AGENT));
    let cookie = conn.cookie.clone().unwrap_or_default();
    assert!(
        cookie.contains("ttwid=sim-ttwid-1") && cookie.contains("tt-target-idc=useast1a"),
        "{cookie}"
    );
    assert_eq!(conn.query.get("compress").map(String::as_str), Some("gzip"));
    assert_eq!(conn.query.get("room_id"), Some(&sim.room_id().to_string()));
    assert!(
        !conn.query.contains_key("imprp"),
        "empty route params are skipped"
    );
    assert_eq!(duties.enter_rooms, vec![(0, sim.room_id())]);
    let beats = duties.heartbeats_of(0);
    assert!(beats.len() >= 3, "{} heartbeats", beats.len());
    assert!(beats
        .iter()
        .enumerate()
        .all(|(i, h)| h.seq == i as u64 + 1 && h.room_id == sim.room_id()));
    // Heartbeats every 50 ms on average (single gaps jitter with scheduling).
    let gaps = duties.heartbeat_intervals(0);
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        mean >= Duration::from_millis(35) && mean <= Duration::from_millis(150),
        "{gaps:?}"
    );
    assert!(!duties.acks.is_empty());
    assert!(duties.acks.iter().all(|a| a.matched), "{:?}", duties.acks);
    assert_eq!(duties.unacked(), Vec::<i64>::new());
    assert_eq!(duties.unexpected_frames, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_drop_with_a_fresh_signed_fetch() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let mut client = run(client_config(&sim));
    sim.push(step(
        r#"{"type": "comment", "user": "a", "text": "before"}"#,
    ));
    sim.wait_for(WAIT, |d| d.heartbeats.len() >= 2)
        .await
        .expect("heartbeats");
    assert!(
        sim.wait_idle(WAIT).await,
        "the first comment was handed over"
    );
    assert_eq!(sim.pending_steps(), 0);
    sim.inject(Fault::DropConnection);
    sim.push(step(r#"{"type": "comment", "user": "b", "text": "after"}"#));
    sim.wait_for(WAIT, |d| {
        d.heartbeats.iter().any(|h| h.connection == 1 && h.seq >= 2)
    })
    .await
    .expect("second connection beats");
    sim.push(Step::End);
    let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
    assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);

    let events = captured(&seen);
    // The history comment replayed by the second fetch is not stored twice.
    assert_eq!(comments(&events), vec!["first! 🥇", "before", "after"]);
    assert!(seen.iter().any(|e| matches!(
        e,
        ClientEvent::Status(ConnectionStatus::Disconnected { .. })
    )));
    let duties = sim.duties();
    assert_eq!(duties.fetches.len(), 2, "one signed fetch per connection");
    assert_eq!(duties.accepted_connections(), 2);
    assert!(
        duties.connections.iter().all(|c| c.fresh_token),
        "each connection used a fresh signing"
    );
    assert_eq!(duties.enter_rooms.len(), 2);
    assert_eq!(
        duties.heartbeats_of(1)[0].seq,
        1,
        "heartbeat sequence restarts after enter-room"
    );
    assert!(duties.acks.iter().all(|a| a.matched));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_every_fault_mode() {
    let sim = Simulator::start(SimulatorConfig {
        // After the client's 200 ms streak timeout.
        late_end_after: Duration::from_millis(600),
        ..Default::default()
    })
    .await
    .expect("simulator");
    let mut client = run(client_config(&sim));
    for fault in Fault::ALL.iter().filter(|f| **f != Fault::StreamEnd) {
        sim.inject(*fault);
    }
    sim.push(step(
        r#"{"type": "comment", "user": "z", "text": "still here"}"#,
    ));
    sim.inject(Fault::StreamEnd);
    let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
    let counters = client.counters.clone();
    assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);

    let events = captured(&seen);
    let texts = comments(&events);
    assert!(texts.contains(&"after an unknown method".to_owned()));
    assert!(texts.contains(&"after a broken gift".to_owned()));
    assert!(texts.contains(&"still here".to_owned()));
    assert!(
        !texts.contains(&"never seen".to_owned()),
        "the truncated frame is skipped"
    );
    // duplicate_msg_id re-sent the previous comment: stored once.
    assert_eq!(
        texts.iter().filter(|t| *t == "after a broken gift").count(),
        1
    );
    let ends = |user: &str| -> Vec<i64> {
        of_type(&events, EventType::Gift)
            .iter()
            .filter(|g| g.user_unique_id.as_deref() == Some(user))
            .filter(|g| {
                g.streak
                    .as_ref()
                    .is_some_and(|s| s.status == StreakStatus::End)
            })
            .map(|g| g.data["streak_total_count"].as_i64().unwrap_or(0))
            .collect()
    };
    assert_eq!(
        ends("shuffler"),
        vec![5],
        "out-of-order streak ends once at its max"
    );
    assert_eq!(
        ends("quitter"),
        vec![3],
        "lost repeat_end finalised by timeout"
    );
    assert_eq!(
        ends("laggard"),
        vec![3, 5],
        "closed by the timeout at 3, corrected to 5 by its late end"
    );
    let laggard_added: i64 = of_type(&events, EventType::Gift)
        .iter()
        .filter(|g| g.user_unique_id.as_deref() == Some("laggard"))
        .filter_map(|g| g.data["added_count"].as_i64())
        .sum();
    assert_eq!(
        laggard_added, 5,
        "summing added_count over ends gives the real total"
    );
    let shuffler_totals: Vec<i64> = of_type(&events, EventType::Gift)
        .iter()
        .filter(|g| g.user_unique_id.as_deref() == Some("shuffler"))
        .map(|g| g.data["streak_total_count"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        shuffler_totals.windows(2).all(|w| w[0] <= w[1]),
        "{shuffler_totals:?}"
    );
    assert!(
        ClientCounters::get(&counters.bad_frames) >= 2,
        "garbage and truncated frames counted"
    );
    assert!(
        ClientCounters::get(&counters.skipped_messages) >= 2,
        "unknown and undecodable messages counted"
    );
    assert_eq!(
        sim.duties().accepted_connections(),
        2,
        "the drop fault caused exactly one reconnect"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_reconnects_when_the_server_goes_silent() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let mut config = client_config(&sim);
    config.watchdog_timeout = Duration::from_millis(300);
    let client = run(config);
    sim.wait_for(WAIT, |d| {
        d.accepted_connections() == 1 && !d.heartbeats.is_empty()
    })
    .await
    .expect("connected");
    sim.freeze();
    let duties = sim
        .wait_for(WAIT, |d| {
            d.accepted_connections() == 2 && !d.heartbeats_of(1).is_empty()
        })
        .await
        .expect("watchdog reconnect");
    assert_eq!(duties.fetches.len(), 2);
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_rejected_with_http_200_is_reported_then_retried() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    sim.reject_next_handshake(415, "DEVICE_BLOCKED");
    let mut client = run(client_config(&sim));
    let seen = client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    assert!(
        seen.contains(&ClientEvent::Status(ConnectionStatus::Rejected {
            status: "415".into(),
            message: "DEVICE_BLOCKED".into()
        })),
        "{:#?}",
        seen.iter()
            .filter(|e| matches!(e, ClientEvent::Status(_)))
            .collect::<Vec<_>>()
    );
    let duties = sim.duties();
    assert_eq!(duties.fetches.len(), 2, "re-signed after the rejection");
    assert_eq!(duties.connections.len(), 2);
    assert!(duties.connections[0].rejected);
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_server_errors_rate_limit_and_api_key() {
    let sim = Simulator::start(SimulatorConfig {
        api_key: Some("sk-test".into()),
        ..Default::default()
    })
    .await
    .expect("simulator");

    // Wrong key: fatal, reported with a clear message.
    let mut config = client_config(&sim);
    config.api_key = Some(Secret::new("wrong"));
    let result = run(config).task.await.expect("no panic");
    assert!(
        matches!(
            result,
            Err(ClientError::Sign(SignError::InvalidApiKey { .. }))
        ),
        "{result:?}"
    );

    // Right key, after a 429 (RateLimit-Reset: 0) and a 500: retried, then connected.
    sim.fail_fetches(&[429, 500]);
    let mut config = client_config(&sim);
    config.api_key = Some(Secret::new("sk-test"));
    let mut client = run(config);
    let seen = client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    let retries = seen
        .iter()
        .filter(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Retrying { .. })))
        .count();
    assert_eq!(retries, 2);
    let statuses: Vec<u16> = sim.duties().fetches.iter().map(|f| f.status).collect();
    assert_eq!(statuses, vec![401, 429, 500, 200]);
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_lookup_failures_are_reported_and_room_id_skips_lookup() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let outcome = |config: ClientConfig| async move { run(config).task.await.expect("no panic") };

    let mut unknown = client_config(&sim);
    unknown.username = Some("@nobody_here".into());
    let err = outcome(unknown).await.expect_err("not found");
    assert!(
        matches!(err, ClientError::Room(RoomError::NotFound { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("@nobody_here was not found"));

    for (mode, check) in [
        (
            LookupMode::Offline,
            (|e: &RoomError| matches!(e, RoomError::Offline { .. })) as fn(&RoomError) -> bool,
        ),
        (LookupMode::Captcha, |e| {
            matches!(e, RoomError::Blocked { .. })
        }),
        (LookupMode::AgeRestricted, |e| {
            matches!(e, RoomError::AgeRestricted { .. })
        }),
    ] {
        sim.set_lookup(mode);
        match outcome(client_config(&sim)).await {
            Err(ClientError::Room(e)) => assert!(check(&e), "{mode:?}: {e}"),
            other => panic!("{mode:?}: {other:?}"),
        }
    }

    // --room-id: no lookup at all, so the captcha does not matter.
    sim.set_lookup(LookupMode::Captcha);
    let mut config = client_config(&sim);
    config.username = None;
    config.room_id = Some(sim.room_id());
    let mut client = run(config);
    client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_follows_handshake_options_ping_interval() {
    let sim = Simulator::start(SimulatorConfig {
        handshake_ping_interval: Some(Duration::from_millis(40)),
        ..Default::default()
    })
    .await
    .expect("simulator");
    let mut config = client_config(&sim);
    config.heartbeat_interval = Duration::from_secs(30);
    let client = run(config);
    let duties = sim
        .wait_for(WAIT, |d| d.heartbeats.len() >= 3)
        .await
        .expect("fast heartbeats");
    assert!(duties
        .heartbeat_intervals(0)
        .iter()
        .all(|g| *g < Duration::from_secs(1)));
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_stream_flows_and_shutdown_is_clean() {
    let sim = Simulator::start(SimulatorConfig {
        random: Some(RandomStream {
            rate_per_sec: 200.0,
            seed: Some(7),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("simulator");
    let mut config = client_config(&sim);
    config.emit_raw_frames = true;
    let mut client = run(config);
    let received = std::cell::Cell::new(0);
    let seen = client
        .until(|_| {
            received.set(received.get() + 1);
            received.get() > 150
        })
        .await;
    let events = captured(&seen);
    assert!(events.len() >= 50, "{} events", events.len());
    assert!(seen.iter().any(|e| matches!(e, ClientEvent::RawFrame(_))));
    assert!(events
        .iter()
        .all(|e| e.event_type == EventType::ViewerCount || e.data["user"].is_object()));
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    let duties = sim.duties();
    assert!(duties.acks.iter().all(|a| a.matched));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_fetch_waits_for_ratelimit_reset() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let reset = Duration::from_secs(2);
    sim.set_rate_limit_reset(reset);
    sim.fail_fetches(&[429]);
    let mut client = run(client_config(&sim));
    let seen = client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    let waits: Vec<Duration> = seen
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status(ConnectionStatus::Retrying { after }) => Some(*after),
            _ => None,
        })
        .collect();
    // The server's reset, not the (20-100 ms) backoff.
    assert_eq!(waits, vec![reset]);
    assert!(seen.iter().any(|e| matches!(
        e,
        ClientEvent::Status(ConnectionStatus::Disconnected { reason })
            if reason.contains("HTTP 429") && reason.contains("limit resets in 2.0s")
    )));
    let fetches = sim.duties().fetches;
    assert_eq!(
        fetches.iter().map(|f| f.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    let gap = fetches[1].at.duration_since(fetches[0].at);
    assert!(gap >= reset, "the second fetch came after {gap:?}");
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_server_402_is_fatal_and_403_is_retried() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");

    // 402: a paid plan is needed; retrying cannot help.
    sim.fail_fetches(&[402]);
    let result = run(client_config(&sim)).task.await.expect("no panic");
    match result {
        Err(ClientError::Sign(e @ SignError::PaymentRequired { .. })) => {
            assert!(e.to_string().contains("HTTP 402"), "{e}");
        }
        other => panic!("402 must be fatal: {other:?}"),
    }
    assert_eq!(sim.duties().fetches.len(), 1, "no retry after a 402");

    // 403: the signer is blocked for now; retried with backoff, then connected.
    sim.fail_fetches(&[403]);
    let mut client = run(client_config(&sim));
    let seen = client
        .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
        .await;
    assert!(seen.iter().any(|e| matches!(
        e,
        ClientEvent::Status(ConnectionStatus::Disconnected { reason }) if reason.contains("HTTP 403")
    )));
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Retrying { .. })))
            .count(),
        1
    );
    assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
    let statuses: Vec<u16> = sim.duties().fetches.iter().map(|f| f.status).collect();
    assert_eq!(statuses, vec![402, 403, 200]);

    // 403 on every attempt: the client gives up and says the sign server answered 403.
    sim.fail_fetches(&[403, 403]);
    let mut config = client_config(&sim);
    config.max_attempts = Some(2);
    match run(config).task.await.expect("no panic") {
        Err(ClientError::GaveUp {
            attempts: 2,
            cause: AttemptFailure::SignServer { status: Some(403) },
            last,
        }) => assert!(last.contains("HTTP 403"), "{last}"),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_id_from_the_live_page_first_then_from_api_live() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let resolve = |mode: LookupMode| {
        sim.set_lookup(mode);
        let before = sim.duties().lookups.len();
        let mut client = run(client_config(&sim));
        let sim = &sim;
        async move {
            let seen = client
                .until(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. })))
                .await;
            assert_eq!(client.finish().await.expect("ok"), StopReason::Shutdown);
            assert!(
                seen.contains(&ClientEvent::Status(ConnectionStatus::RoomResolved {
                    room_id: sim.room_id()
                })),
                "{mode:?}"
            );
            let lookups = sim.duties().lookups.split_off(before);
            assert!(
                lookups.iter().all(|l| l.username == sim.username()),
                "normalised handle: {lookups:?}"
            );
            lookups.iter().map(|l| l.endpoint).collect::<Vec<_>>()
        }
    };
    // The live page answers: api-live is never asked.
    assert_eq!(
        resolve(LookupMode::Live).await,
        vec![LookupEndpoint::LivePage]
    );
    // The live page fails (captcha) or has no room id: api-live answers, asked after it.
    for mode in [LookupMode::LivePageBlocked, LookupMode::LivePageWithoutRoom] {
        assert_eq!(
            resolve(mode).await,
            vec![LookupEndpoint::LivePage, LookupEndpoint::ApiLive],
            "{mode:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_end_in_the_initial_fetch_stops_the_client() {
    for (action, reason) in [(3, "ended"), (4, "suspended")] {
        let sim = Simulator::start(SimulatorConfig::default())
            .await
            .expect("simulator");
        sim.end_in_fetch(action);
        let mut client = run(client_config(&sim));
        let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
        assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);
        let events = captured(&seen);
        assert_eq!(comments(&events), vec!["first! 🥇"], "the history is kept");
        let ends = of_type(&events, EventType::LiveEnd);
        assert_eq!(ends.len(), 1, "action {action}");
        assert_eq!(ends[0].data["reason"], reason);
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, ClientEvent::Status(ConnectionStatus::Connected { .. }))),
            "no WebSocket for an ended LIVE"
        );
        let duties = sim.duties();
        assert_eq!(duties.fetches.len(), 1, "no retry");
        assert_eq!(duties.connections.len(), 0, "{}", duties.summary());
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_identical_frame_is_acked_again_and_mapped_once() {
    let sim = Simulator::start(SimulatorConfig::default())
        .await
        .expect("simulator");
    let mut client = run(client_config(&sim));
    sim.push(step(r#"{"type": "comment", "user": "a", "text": "once"}"#));
    sim.push(step(r#"{"type": "gift", "user": "b", "gift": "Galaxy"}"#));
    sim.inject(Fault::DuplicateFrame);
    sim.push(Step::End);
    let seen = client.until(|e| *e == ClientEvent::StreamEnded).await;
    assert_eq!(client.finish().await.expect("ok"), StopReason::StreamEnded);
    let events = captured(&seen);
    assert_eq!(comments(&events), vec!["first! 🥇", "once"]);
    assert_eq!(of_type(&events, EventType::Gift).len(), 1);
    let duties = sim
        .wait_for(WAIT, |d| d.unacked().is_empty() && d.acks.len() >= 3)
        .await
        .unwrap_or_else(|summary| panic!("acks: {summary}"));
    assert_eq!(duties.repeated_frames, 1);
    // The repeated frame carries the log_id of the original: that one is acked twice (both
    // matching), every other frame once.
    assert!(duties.acks.iter().all(|a| a.matched), "{:?}", duties.acks);
    let mut per_log: std::collections::BTreeMap<i64, usize> = Default::default();
    for ack in &duties.acks {
        *per_log.entry(ack.log_id).or_default() += 1;
    }
    let twice: Vec<i64> = per_log
        .iter()
        .filter(|(_, n)| **n == 2)
        .map(|(log_id, _)| *log_id)
        .collect();
    assert_eq!(twice.len(), 1, "{:?}", duties.acks);
    assert!(per_log.values().all(|n| *n <= 2), "{:?}", duties.acks);
    sim.shutdown().await;
}
