//! The HTTP server and the page protocol without a browser: flags, token, stats, and a test
//! client playing the dino page over the WebSocket.

mod common;

use std::time::Duration;

use common::{http_get, Fixture};
use core_models::{EventType, QueueStatus, ServiceKind};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_taken_port_or_a_public_address_without_token_is_one_clear_error() {
    let fx = Fixture::all().remove(0);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut w = fx.spawn_worker("busy", &["--http", &addr]);
    assert_eq!(w.wait_exit(LONG), Some(1), "{}", w.output());
    let out = w.output();
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("error: cannot listen on {addr}")),
        "{out}"
    );

    let mut w = fx.spawn_worker("public", &["--http", "0.0.0.0:0"]);
    assert_eq!(w.wait_exit(LONG), Some(1), "{}", w.output());
    let out = w.output();
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("--http-token"), "{out}");

    let mut w = fx.spawn_worker("off", &["--no-http", "--service", "none"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(!w.output().contains("http listening"), "{}", w.output());
    w.signal("-TERM");
    assert_eq!(w.wait_exit(LONG), Some(0));
}

#[test]
fn with_a_token_every_request_needs_it_and_stats_are_json() {
    let fx = Fixture::all().remove(0);
    fx.add_service(
        "overlays",
        ServiceKind::Overlays,
        &[],
        true,
        &[(EventType::Gift, 10)],
    );
    let w = fx.spawn_worker(
        "w",
        &[
            "--http",
            "127.0.0.1:0",
            "--http-token",
            "s3cret",
            "--service",
            "none",
        ],
    );
    let base = w.http_base();
    assert_eq!(http_get(&base, "/health", &[]).0, 401);
    assert_eq!(http_get(&base, "/overlays", &[]).0, 401);
    assert_eq!(http_get(&base, "/health?token=wrong", &[]).0, 401);
    let (status, head, body) = http_get(&base, "/overlays?token=s3cret", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("/assets/overlays.js"));
    // The page's own scripts load through the cookie the page got.
    assert!(head.contains("set-cookie: worker_token=s3cret"), "{head}");
    let (status, _, js) = http_get(
        &base,
        "/assets/overlays.js",
        &[("Cookie", "worker_token=s3cret")],
    );
    assert_eq!(status, 200);
    assert!(js.contains("textContent"));
    let (status, _, body) = http_get(&base, "/api/stats", &[("Authorization", "Bearer s3cret")]);
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(body.trim()).expect("stats JSON");
    assert!(
        stats
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["slug"] == "overlays"),
        "{stats}"
    );
    let (status, _, body) = http_get(&base, "/health", &[("Authorization", "Bearer s3cret")]);
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    // The pages' WebSockets too: no upgrade without the token, a working socket with it.
    let mut connected = Vec::new();
    for path in ["/ws/overlays", "/ws/dino"] {
        for (query, headers) in [
            ("", &[][..]),
            ("?token=wrong", &[][..]),
            ("", &[("Authorization", "Bearer wrong")][..]),
            ("?service=overlays", &[("Cookie", "worker_token=nope")][..]),
        ] {
            let refused = Page::try_connect(&base, &format!("{path}{query}"), headers).err();
            assert_eq!(refused, Some(401), "{path}{query} {headers:?}");
        }
        let with_query = Page::try_connect(&base, &format!("{path}?token=s3cret"), &[]);
        let with_header = Page::try_connect(&base, path, &[("Authorization", "Bearer s3cret")]);
        // The cookie a page got with ?token= covers its socket too.
        let with_cookie = Page::try_connect(&base, path, &[("Cookie", "worker_token=s3cret")]);
        for (how, page) in [
            ("?token=", with_query),
            ("bearer", with_header),
            ("cookie", with_cookie),
        ] {
            match page {
                Ok(page) => connected.push(page),
                Err(status) => panic!("{path} with the token in the {how}: {status}"),
            }
        }
    }
    // Those are real pages for the server: three of each kind, none of the refused ones.
    let (_, _, body) = http_get(&base, "/health?token=s3cret", &[]);
    let health: Value = serde_json::from_str(body.trim()).expect("health JSON");
    assert_eq!(
        health["pages"],
        json!({"overlays": 3, "dino": 3}),
        "{health}"
    );
    drop(connected);
}

#[test]
fn without_a_token_a_foreign_host_or_origin_is_refused() {
    let fx = Fixture::all().remove(0);
    let w = fx.spawn_worker("w", &["--service", "none"]);
    let base = w.http_base();
    assert_eq!(http_get(&base, "/health", &[]).0, 200);
    let (status, _, _) = http_get(
        &base,
        "/ws/dino",
        &[
            ("Origin", "https://evil.example"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade, close"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    );
    assert_eq!(status, 403);
    assert_eq!(http_get(&base, "/assets/nope.js", &[]).0, 404);
}

/// A test client playing the dino page.
struct Page {
    rt: tokio::runtime::Runtime,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Page {
    fn connect(base: &str, path: &str) -> Page {
        Page::try_connect(base, path, &[])
            .unwrap_or_else(|status| panic!("{path}: the upgrade was refused with {status}"))
    }

    /// Opens the WebSocket with these extra request headers; the HTTP status if refused.
    fn try_connect(base: &str, path: &str, headers: &[(&str, &str)]) -> Result<Page, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("{}{path}", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        for (k, v) in headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let socket = match rt.block_on(tokio_tungstenite::connect_async(request)) {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                return Err(response.status().as_u16())
            }
            Err(e) => panic!("{path}: {e}"),
        };
        let mut page = Page { rt, socket };
        assert_eq!(page.next()["type"], "hello");
        Ok(page)
    }

    /// Whether a message arrives within `wait` (none expected: returns it if one does).
    fn quiet_for(&mut self, wait: Duration) -> Option<Value> {
        let socket = &mut self.socket;
        self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, socket.next()).await {
                    Err(_) => return None,
                    Ok(Some(Ok(Message::Text(t)))) => {
                        return Some(serde_json::from_str(&t).unwrap())
                    }
                    Ok(Some(Ok(_))) => continue,
                    Ok(other) => panic!("the socket ended: {other:?}"),
                }
            }
        })
    }

    /// The next text message, as JSON.
    fn next(&mut self) -> Value {
        let socket = &mut self.socket;
        self.rt.block_on(async {
            loop {
                let frame = tokio::time::timeout(LONG, socket.next())
                    .await
                    .expect("a message in time")
                    .expect("socket open")
                    .expect("frame");
                if let Message::Text(t) = frame {
                    return serde_json::from_str(&t).unwrap();
                }
            }
        })
    }

    fn send(&mut self, v: Value) {
        self.rt
            .block_on(self.socket.send(Message::text(v.to_string())))
            .unwrap();
    }
}

#[test]
fn dinochrome_fails_without_a_page_or_an_ack_and_completes_on_the_ack() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "dinochrome",
            ServiceKind::DinoChrome,
            &[("no_page", json!("fail")), ("ack_timeout_ms", json!(800))],
            false,
            &[(EventType::Comment, 6), (EventType::Gift, 10)],
        );
        // No page yet: the item fails, it does not pass silently.
        fx.enqueue(&[EventType::Comment]);
        let w = fx.spawn_worker("w", &["--service", "dinochrome"]);
        let base = w.http_base();
        fx.wait(LONG, "the item failed", || fx.stats(id).failed == 1);
        let err = fx.items(id)[0].last_error.clone().unwrap();
        assert!(err.contains("no dino page is connected"), "{err}");

        let mut page = Page::connect(&base, "/ws/dino");
        // A page that never answers: failed after ack_timeout_ms.
        fx.enqueue(&[EventType::Comment]);
        let action = page.next();
        assert_eq!(action["type"], "action");
        assert_eq!(action["action"], "jump");
        assert_eq!(action["event"], "CommentEvent");
        fx.wait(LONG, "the unanswered item failed", || {
            fx.stats(id).failed == 2
        });
        // The page is told the server gave up on it.
        assert_eq!(page.next(), json!({"type": "cancel", "id": action["id"]}));
        let items = fx.items(id);
        assert_eq!(items[1].id, action["id"].as_i64().unwrap());
        assert!(
            items[1]
                .last_error
                .as_deref()
                .unwrap()
                .contains("no dino page answered within 800 ms"),
            "{:?}",
            items[1].last_error
        );

        // An answered one completes.
        fx.enqueue_event(
            EventType::Gift,
            "Ana",
            json!({"gift": {"name": "Rose"}, "repeat_count": 3}),
        );
        let action = page.next();
        assert_eq!(action["action"], "boost");
        assert_eq!(action["user"], "Ana");
        assert_eq!(action["detail"], "Rose ×3");
        let gift_id = action["id"].as_i64().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(fx.items(id)[2].status, QueueStatus::Processing);
        page.send(json!({"type": "ack", "id": gift_id}));
        fx.wait(LONG, "the acked item completed", || {
            fx.stats(id).completed == 1
        });

        // A rule's action overrides the mapping by type: "!duck" ducks instead of jumping.
        core_models::rules::add(
            &mut fx.conn(),
            "dinochrome",
            &core_models::rules::NewRule {
                name: "chat-duck".into(),
                event_type: Some(EventType::Comment),
                conditions: core_models::Conditions {
                    comment_prefix: Some("!duck".into()),
                    ..Default::default()
                },
                action: Some("duck".into()),
                // Above the CommentEvent rule (6), which would jump.
                basics: core_models::rules::Basics {
                    priority: Some(core_models::Priority::new(9).expect("1 to 10")),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .expect("rule");
        fx.enqueue_event(EventType::Comment, "Bo", json!({"comment": "!DUCK now"}));
        let action = page.next();
        assert_eq!(action["action"], "duck");
        assert_eq!(action["detail"], "!DUCK now");
        drop(w);
    }
}

#[test]
fn overlays_complete_when_delivered_and_follow_the_no_page_setting() {
    for mut fx in Fixture::all() {
        let skip = fx.add_service(
            "overlays_skip",
            ServiceKind::Overlays,
            &[("no_page", json!("complete"))],
            true,
            &[(EventType::Like, 2)],
        );
        let id = fx.add_service(
            "overlays",
            ServiceKind::Overlays,
            &[],
            true,
            &[(EventType::Gift, 10), (EventType::Comment, 5)],
        );
        // Waiting (the default) until a page connects: nothing is lost meanwhile.
        fx.enqueue(&[EventType::Gift, EventType::Comment, EventType::Like]);
        let w = fx.spawn_worker("w", &[]);
        let base = w.http_base();
        fx.wait(LONG, "no_page=complete completes unseen", || {
            fx.stats(skip).completed == 1
        });
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            fx.stats(id).completed,
            0,
            "completed with no page to see it"
        );

        let mut page = Page::connect(&base, "/ws/overlays?service=overlays");
        let mut seen = Vec::new();
        for _ in 0..2 {
            let m = page.next();
            assert_eq!(m["type"], "event");
            assert_eq!(m["service"], "overlays");
            seen.push(m["event"]["type"].as_str().unwrap().to_owned());
            page.send(json!({"type": "ack", "id": m["id"]}));
        }
        seen.sort();
        assert_eq!(seen, ["CommentEvent", "GiftEvent"]);
        fx.wait(LONG, "both delivered", || fx.stats(id).completed == 2);

        // The lag of what this daemon started, per service; none for a service it never ran.
        let (status, _, body) = http_get(&base, "/api/stats", &[]);
        assert_eq!(status, 200, "{body}");
        let stats: serde_json::Value = serde_json::from_str(body.trim()).expect("stats JSON");
        let of = |slug: &str| {
            stats
                .as_array()
                .and_then(|all| all.iter().find(|s| s["slug"] == slug))
                .unwrap_or_else(|| panic!("{slug} in {stats}"))
                .clone()
        };
        let lag = &of("overlays")["lag"];
        assert_eq!(lag["count"], 2, "{stats}");
        assert!(lag["p50_ms"].as_f64().expect("p50") <= lag["max_ms"].as_f64().expect("max"));
        assert_eq!(of("overlays_skip")["lag"]["count"], 1, "{stats}");

        // A connected page does not hold shutdown up.
        let mut w = w;
        let started = std::time::Instant::now();
        w.signal("-TERM");
        assert_eq!(w.wait_exit(LONG), Some(0), "{}", w.output());
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "shutdown took {:?}",
            started.elapsed()
        );
        drop(page);
    }
}

#[test]
fn overlays_with_no_page_fail_fail_without_a_page_and_when_the_page_leaves() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "overlays",
            ServiceKind::Overlays,
            &[("no_page", json!("fail"))],
            true,
            &[(EventType::Gift, 10), (EventType::Comment, 5)],
        );
        // No page: failed at once, not kept waiting and not completed unseen.
        fx.enqueue(&[EventType::Gift]);
        let w = fx.spawn_worker("w", &["--service", "overlays"]);
        let base = w.http_base();
        fx.wait(LONG, "the item failed", || fx.stats(id).failed == 1);
        let err = fx.items(id)[0].last_error.clone().unwrap();
        assert!(err.contains("no overlays page is connected"), "{err}");
        assert_eq!(fx.stats(id).completed, 0);

        // With a page, an acked item completes.
        let mut page = Page::connect(&base, "/ws/overlays");
        fx.enqueue(&[EventType::Comment]);
        let m = page.next();
        assert_eq!(m["type"], "event");
        assert_eq!(m["event"]["type"], "CommentEvent");
        page.send(json!({"type": "ack", "id": m["id"]}));
        fx.wait(LONG, "the acked item completed", || {
            fx.stats(id).completed == 1
        });

        // A page that leaves before acking: failed, not sent again to a later page.
        fx.enqueue(&[EventType::Gift]);
        let m = page.next();
        assert_eq!(m["event"]["type"], "GiftEvent");
        drop(page);
        fx.wait(LONG, "the unanswered item failed", || {
            fx.stats(id).failed == 2
        });
        let item = fx
            .items(id)
            .into_iter()
            .find(|i| i.id == m["id"].as_i64().unwrap())
            .unwrap();
        assert_eq!(item.status, QueueStatus::Failed);
        let err = item.last_error.unwrap();
        assert!(
            err.contains("the overlays page disconnected before it answered"),
            "{err}"
        );
        let stats = fx.stats(id);
        assert_eq!((stats.completed, stats.failed, stats.pending), (1, 2, 0));
        drop(w);
    }
}

#[test]
fn an_overlay_item_is_in_flight_until_acked_and_withdrawn_from_the_page_when_it_times_out() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "overlays",
            ServiceKind::Overlays,
            &[
                ("max_concurrency", json!(2)),
                ("ack_timeout_ms", json!(3000)),
            ],
            true,
            &[(EventType::Follow, 7)],
        );
        let w = fx.spawn_worker("w", &["--service", "overlays"]);
        let base = w.http_base();
        let mut page = Page::connect(&base, "/ws/overlays");
        fx.enqueue(&[EventType::Follow; 4]);

        // Unacked items are still in flight: max_concurrency of them reach the page, no more,
        // so a page never holds more waiting alerts than that.
        let a = page.next();
        let b = page.next();
        assert_eq!(
            (a["type"].as_str(), b["type"].as_str()),
            (Some("event"), Some("event"))
        );
        assert_eq!(
            page.quiet_for(Duration::from_secs(1)),
            None,
            "a third in flight"
        );
        assert_eq!(fx.stats(id).completed, 0, "completed before the page acked");

        // Acking one (the page showed it) completes it and lets the next one come.
        page.send(json!({"type": "ack", "id": a["id"]}));
        fx.wait(LONG, "the acked item completed", || {
            fx.stats(id).completed == 1
        });

        // `b` is never acked: after ack_timeout_ms it fails, and the page is told to drop it,
        // so it cannot reach the screen after counting as failed. The others are acked.
        let mut cancelled = None;
        let deadline = std::time::Instant::now() + LONG;
        while cancelled.is_none() {
            assert!(std::time::Instant::now() < deadline, "no cancel for {b}");
            let m = page.next();
            match m["type"].as_str() {
                Some("event") => page.send(json!({"type": "ack", "id": m["id"]})),
                Some("cancel") => cancelled = Some(m["id"].clone()),
                _ => panic!("unexpected {m}"),
            }
        }
        assert_eq!(
            cancelled.unwrap(),
            b["id"],
            "the cancel is for the unacked item"
        );
        fx.wait(LONG, "the rest completed", || {
            let s = fx.stats(id);
            s.completed == 3 && s.failed == 1
        });
        let failed = fx
            .items(id)
            .into_iter()
            .find(|i| i.status == QueueStatus::Failed)
            .unwrap();
        assert_eq!(failed.id, b["id"].as_i64().unwrap());
        let err = failed.last_error.unwrap();
        assert!(
            err.contains("no overlays page answered within 3000 ms"),
            "{err}"
        );
        drop(w);
    }
}
