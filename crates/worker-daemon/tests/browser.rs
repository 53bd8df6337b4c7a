//! The browser sources in headless Chromium: events enqueued through the real dispatcher go
//! through the worker daemon (a process) to the pages, which render and ack them.
//! Screenshots land in `<target>/screenshots/`.

mod common;

use std::time::Duration;

use common::{http_get, Fixture, Worker};
use core_models::{EventType, QueueStatus, ServiceKind};
use serde_json::json;
use test_support::browser::{screenshot_path, Browser};

const LONG: Duration = Duration::from_secs(60);

/// A browser-source service (`overlays` or `dinochrome`) served by a worker daemon, and a
/// Chromium showing its page with the page's WebSocket connected.
struct Stage {
    id: i64,
    worker: Worker,
    browser: Browser,
}

/// Sets up a [`Stage`]; `None` when Chromium is missing outside CI.
fn stage(
    fx: &Fixture,
    kind: ServiceKind,
    settings: &[(&str, serde_json::Value)],
    is_async: bool,
    routes: &[(EventType, i64)],
) -> Option<Stage> {
    let (slug, page) = match kind {
        ServiceKind::Overlays => ("overlays", "overlays"),
        ServiceKind::DinoChrome => ("dinochrome", "dino"),
        other => panic!("{other} has no page"),
    };
    let id = fx.add_service(slug, kind, settings, is_async, routes);
    let worker = fx.spawn_worker("w", &["--service", slug]);
    let base = worker.http_base();
    let mut browser = Browser::launch()?;
    open_connected(&mut browser, &format!("{base}/{page}"));
    Some(Stage {
        id,
        worker,
        browser,
    })
}

/// Opens a page and waits for its WebSocket.
fn open_connected(browser: &mut Browser, url: &str) {
    browser.open(url);
    browser.wait_for(
        LONG,
        "the page's WebSocket",
        "document.body.dataset.connected === 'true'",
    );
}

fn gift(name: &str, count: i64, nickname: &str) -> serde_json::Value {
    json!({
        "gift": {"id": 5655, "name": name, "diamond_count": 1, "streakable": true, "type": 1},
        "repeat_count": count,
        "streak_total_count": count,
        "total_diamonds": count,
        "user": {
            "nickname": nickname,
            "unique_id": "ana.rose",
            // Unreachable here: the page falls back to the initial.
            "avatar_url": "https://p16-sign.tiktokcdn.example/avatar.jpeg"
        }
    })
}

#[test]
fn the_overlay_page_shows_a_gift_alert_that_went_through_the_queue() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[],
            true,
            &[
                (EventType::Gift, 10),
                (EventType::Follow, 7),
                (EventType::Comment, 5),
            ],
        )
        else {
            return;
        };

        fx.enqueue_event(EventType::Gift, "Ana 🌹", gift("Rose", 5, "Ana 🌹"));
        fx.enqueue_event(EventType::Follow, "Bruno", json!({"follow_count": 10}));
        fx.enqueue_event(
            EventType::Comment,
            "Chloé",
            json!({"comment": "what a stream! 🎉"}),
        );
        browser.wait_for(
            LONG,
            "the gift alert",
            "[...document.querySelectorAll('#alerts .alert.gift')].some(a => \
               a.textContent.includes('Ana 🌹') && a.textContent.includes('Rose') \
               && a.textContent.includes('×5'))",
        );
        browser.wait_for(
            LONG,
            "the follow alert and the chat row",
            "document.querySelector('#alerts .alert.follow') !== null && \
             [...document.querySelectorAll('#chat li')].some(l => l.textContent.includes('what a stream!'))",
        );
        fx.wait(LONG, "every item delivered", || fx.stats(id).completed == 3);
        // The avatar cannot load here (no network): the initial stands in, from the start.
        assert_eq!(
            browser.eval("document.querySelector('.alert.gift .avatar').textContent"),
            json!("A")
        );
        browser.screenshot(&screenshot_path("overlays.png"));
        assert!(browser.dialogs().is_empty());
        drop(w);
    }
}

/// A comment rule with a prefix and an action, above the plain CommentEvent rule.
fn comment_rule(fx: &Fixture, name: &str, prefix: &str, action: &str) {
    core_models::rules::add(
        &mut fx.conn(),
        "overlays",
        &core_models::rules::NewRule {
            name: name.into(),
            event_type: Some(EventType::Comment),
            conditions: core_models::Conditions {
                comment_prefix: Some(prefix.into()),
                ..Default::default()
            },
            action: Some(action.into()),
            basics: core_models::rules::Basics {
                priority: Some(core_models::Priority::new(9).expect("1 to 10")),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("rule");
}

#[test]
fn a_rules_action_makes_a_comment_an_alert_or_keeps_it_off_screen() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[],
            true,
            &[(EventType::Comment, 5)],
        )
        else {
            return;
        };
        comment_rule(&fx, "shout", "!shout", "alert");
        comment_rule(&fx, "quiet", "!quiet", "none");

        fx.enqueue_event(
            EventType::Comment,
            "Dana",
            json!({"comment": "!quiet secret"}),
        );
        fx.enqueue_event(
            EventType::Comment,
            "Eli",
            json!({"comment": "!shout hello all"}),
        );
        fx.enqueue_event(EventType::Comment, "Fay", json!({"comment": "plain words"}));
        browser.wait_for(
            LONG,
            "the shouted comment as an alert and the plain one in the chat",
            "[...document.querySelectorAll('#alerts .alert')].some(a => \
               a.textContent.includes('Eli') && a.textContent.includes('!shout hello all')) && \
             [...document.querySelectorAll('#chat li')].some(l => l.textContent.includes('plain words'))",
        );
        fx.wait(LONG, "all three items completed", || {
            fx.stats(id).completed == 3
        });
        assert_eq!(
            browser.eval(
                "[...document.querySelectorAll('#alerts .alert, #chat li')]\
                 .filter(n => n.textContent.includes('secret') || n.textContent.includes('Dana')).length"
            ),
            json!(0),
            "the 'none' comment stays off screen"
        );
        assert_eq!(
            browser.eval(
                "[...document.querySelectorAll('#chat li')]\
                 .filter(l => l.textContent.includes('!shout')).length"
            ),
            json!(0),
            "the alert is not also a chat row"
        );
        let rules: Vec<Option<String>> = fx.items(id).into_iter().map(|i| i.rule_name).collect();
        assert_eq!(
            rules,
            vec![
                Some("quiet".to_owned()),
                Some("shout".to_owned()),
                Some("CommentEvent".to_owned())
            ]
        );
        browser.screenshot(&screenshot_path("overlays-rule-actions.png"));
        assert!(browser.dialogs().is_empty());
        drop(w);
    }
}

#[test]
fn comments_a_moderator_deleted_leave_the_chat_feed() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[],
            true,
            &[(EventType::Comment, 5), (EventType::CommentDeleted, 8)],
        )
        else {
            return;
        };
        // TikTok's msg_ids are above 2^53: the page must not mistake one for its neighbour.
        fx.number_msg_ids_from(7_400_000_000_000_000_001);
        let kept = fx.enqueue_event(EventType::Comment, "Ana", json!({"comment": "stays"}));
        let spam = fx.enqueue_event(
            EventType::Comment,
            "Bot",
            json!({"comment": "buy followers"}),
        );
        let troll = fx.enqueue_event(EventType::Comment, "Troll", json!({"comment": "rude"}));
        assert_eq!((kept + 1, spam + 1), (spam, troll));
        browser.wait_for(
            LONG,
            "three chat rows",
            "document.querySelectorAll('#chat li').length === 3",
        );
        fx.enqueue_event(
            EventType::CommentDeleted,
            "",
            json!({"deleted_msg_ids": [spam], "deleted_user_ids": [format!("u{troll}")]}),
        );
        browser.wait_for(
            LONG,
            "the deleted comments gone",
            "document.querySelectorAll('#chat li').length === 1",
        );
        assert_eq!(
            browser.eval("document.querySelector('#chat li .message').textContent"),
            json!("stays")
        );
        assert_eq!(
            browser.eval("document.querySelector('#chat li').dataset.msgId"),
            json!(kept.to_string())
        );
        fx.wait(LONG, "every item delivered, the deletion too", || {
            fx.stats(id).completed == 4
        });
        drop(w);
    }
}

#[test]
fn tiktok_text_is_shown_as_text_and_never_runs() {
    const COMMENT: &str = "<img src=x onerror=alert(1)>";
    const NICK: &str = "<b>bold</b><script>alert(2)</script>";
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "overlays",
            ServiceKind::Overlays,
            &[],
            true,
            &[(EventType::Comment, 5), (EventType::Gift, 10)],
        );
        let w = fx.spawn_worker("w", &["--service", "overlays"]);
        let base = w.http_base();

        // The policy that keeps inline handlers from running even if HTML got in.
        let (status, head, _) = http_get(&base, "/overlays", &[]);
        assert_eq!(status, 200);
        assert!(
            head.contains("content-security-policy: default-src 'self'; script-src 'self'"),
            "{head}"
        );

        let Some(mut browser) = Browser::launch() else {
            return;
        };
        open_connected(&mut browser, &format!("{base}/overlays"));
        fx.enqueue_event(EventType::Comment, NICK, json!({ "comment": COMMENT }));
        fx.enqueue_event(EventType::Gift, NICK, gift(COMMENT, 1, NICK));
        browser.wait_for(
            LONG,
            "the chat row",
            "document.querySelector('#chat li') !== null",
        );
        browser.wait_for(
            LONG,
            "the alert",
            "document.querySelector('.alert.gift') !== null",
        );
        fx.wait(LONG, "both delivered", || fx.stats(id).completed == 2);

        assert_eq!(
            browser.eval("document.querySelector('#chat li .message').textContent"),
            json!(COMMENT)
        );
        assert_eq!(
            browser.eval("document.querySelector('#chat li .name').textContent"),
            json!(NICK)
        );
        assert_eq!(
            browser.eval("document.querySelector('.alert.gift .gift-name').textContent"),
            json!(COMMENT)
        );
        assert_eq!(
            browser.eval(
                "document.querySelectorAll('#chat img, #chat b, #chat script, \
                 #alerts img:not(.avatar), #alerts b, #alerts script').length"
            ),
            json!(0),
            "TikTok text became elements"
        );
        // Give a handler every chance to fire before looking.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(browser.dialogs(), Vec::<String>::new(), "a script ran");
    }
}

#[test]
fn the_dino_page_acts_and_the_item_completes_only_after_its_ack() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::DinoChrome,
            &[],
            false,
            &[(EventType::Comment, 6), (EventType::Gift, 10)],
        )
        else {
            return;
        };
        // Hold the page's outgoing messages (the test's doing, not the page's): the jump
        // plays out, but the ack stays in the page.
        browser.eval(
            "window.__held = []; window.__hold = true; \
             window.__send = WebSocket.prototype.send; \
             WebSocket.prototype.send = function (d) { \
               if (window.__hold) { window.__held.push([this, d]); return; } \
               return window.__send.call(this, d); }; true",
        );

        fx.enqueue_event(EventType::Comment, "Dani", json!({"comment": "jump!"}));
        browser.wait_for(
            LONG,
            "the jump played and its ack is ready",
            "document.body.dataset.acked === '1' && window.__held.length === 1",
        );
        let held = browser.eval("JSON.parse(window.__held[0][1])");
        let item = fx.items(id)[0].clone();
        assert_eq!(held, json!({"type": "ack", "id": item.id}));
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(
            fx.items(id)[0].status,
            QueueStatus::Processing,
            "the item completed before the page acked"
        );

        browser.eval(
            "window.__hold = false; \
             for (const [s, d] of window.__held) window.__send.call(s, d); true",
        );
        fx.wait(LONG, "the item completed after the ack", || {
            fx.stats(id).completed == 1
        });

        // A gift boosts; screenshot mid-boost, then it completes too.
        fx.enqueue_event(EventType::Gift, "Ana 🌹", gift("Rose", 5, "Ana 🌹"));
        // The boost lasts 1.5 s; on a slow machine it may be over before we look.
        browser.wait_for(
            LONG,
            "the boost",
            "document.body.dataset.action === 'boost' || document.body.dataset.acked === '2'",
        );
        std::thread::sleep(Duration::from_millis(300));
        browser.screenshot(&screenshot_path("dino.png"));
        fx.wait(LONG, "the gift completed", || fx.stats(id).completed == 2);
        assert_eq!(
            browser.eval("document.body.dataset.acked"),
            json!("2"),
            "{}",
            w.output()
        );
        assert!(browser.dialogs().is_empty());
    }
}

#[test]
fn pages_reconnect_by_themselves_when_the_daemon_restarts() {
    let mut fx = Fixture::all().remove(0);
    let id = fx.add_service(
        "overlays",
        ServiceKind::Overlays,
        &[],
        true,
        &[(EventType::Comment, 5)],
    );
    // A fixed port, so the restarted daemon is where the page left it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut w = fx.spawn_worker("first", &["--http", &addr, "--service", "overlays"]);
    let base = w.http_base();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    open_connected(&mut browser, &format!("{base}/overlays"));
    w.signal("-KILL");
    w.wait_exit(LONG);
    browser.wait_for(
        LONG,
        "the page noticed",
        "document.body.dataset.connected === 'false'",
    );

    let w = fx.spawn_worker("second", &["--http", &addr, "--service", "overlays"]);
    w.http_base();
    browser.wait_for(
        LONG,
        "the page reconnected",
        "document.body.dataset.connected === 'true'",
    );
    fx.enqueue_event(EventType::Comment, "Eve", json!({"comment": "back again"}));
    browser.wait_for(
        LONG,
        "the comment after the restart",
        "[...document.querySelectorAll('#chat li')].some(l => l.textContent.includes('back again'))",
    );
    fx.wait(LONG, "delivered", || fx.stats(id).completed == 1);
}

/// Records every alert card the page puts on screen (`window.__shown`: item ids, in order) and
/// the most cards on screen at once (`window.__most`).
#[test]
fn a_dino_action_the_server_gave_up_on_is_never_played_late() {
    for mut fx in Fixture::all() {
        // A boost plays 1.5 s but the server waits only 300 ms for its ack: the first gift
        // fails while it plays, the second arrives behind it, fails too, and must not play.
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::DinoChrome,
            &[("ack_timeout_ms", json!(300))],
            false,
            &[(EventType::Gift, 10)],
        )
        else {
            return;
        };
        fx.enqueue_event(EventType::Gift, "Ana 🌹", gift("Rose", 5, "Ana 🌹"));
        fx.enqueue_event(EventType::Gift, "Bo", gift("Rose", 1, "Bo"));
        fx.wait(LONG, "both items failed by the ack timeout", || {
            fx.stats(id).failed == 2
        });
        let first = fx.items(id)[0].id;
        // The first boost finishes playing (its late ack finds nothing); the second never
        // starts.
        browser.wait_for(
            LONG,
            "the first boost played out",
            &format!("document.body.dataset.lastAck === '{first}'"),
        );
        std::thread::sleep(Duration::from_millis(2000));
        assert_eq!(
            browser.eval("document.body.dataset.acked"),
            json!("1"),
            "the cancelled second action played late\n{}",
            w.output()
        );
        assert_eq!(fx.stats(id).completed, 0);
        drop(w);
    }
}

const WATCH_ALERTS: &str = "window.__shown = []; window.__most = 0; \
    new MutationObserver((changes) => { \
      for (const c of changes) for (const n of c.addedNodes) \
        if (n.classList && n.classList.contains('alert')) window.__shown.push(Number(n.dataset.itemId)); \
      window.__most = Math.max(window.__most, document.getElementById('alerts').childElementCount); \
    }).observe(document.getElementById('alerts'), { childList: true }); true";

fn ids_of(value: serde_json::Value) -> Vec<i64> {
    let mut ids: Vec<i64> = serde_json::from_value(value).expect("a list of ids");
    ids.sort_unstable();
    ids
}

#[test]
fn an_overlay_item_completes_when_its_alert_reaches_the_screen_and_none_is_dropped() {
    for mut fx in Fixture::all() {
        // Two in flight: with 3 alerts on screen, at most two more wait in the page.
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[("max_concurrency", json!(2))],
            true,
            &[(EventType::Follow, 7)],
        )
        else {
            return;
        };
        browser.eval(WATCH_ALERTS);
        for n in 0..6 {
            fx.enqueue_event(
                EventType::Follow,
                &format!("Fan {n}"),
                json!({"follow_count": n}),
            );
        }

        // Three on screen, completed; two waiting in the page, still in flight; one queued.
        browser.wait_for(
            LONG,
            "three alerts on screen and two waiting",
            "document.querySelectorAll('#alerts .alert').length === 3 && \
             document.body.dataset.waiting === '2'",
        );
        fx.wait(LONG, "the three shown completed", || {
            fx.stats(id).completed == 3
        });
        let on_screen = ids_of(browser.eval(
            "[...document.querySelectorAll('#alerts .alert')].map(a => Number(a.dataset.itemId))",
        ));
        let completed = |fx: &Fixture| -> Vec<i64> {
            fx.items(id)
                .into_iter()
                .filter(|i| i.status == QueueStatus::Completed)
                .map(|i| i.id)
                .collect()
        };
        assert_eq!(on_screen, completed(&fx), "completed ≠ shown");
        // The waiting ones stay in flight while the first alerts are up (5 s each).
        std::thread::sleep(Duration::from_millis(1000));
        let stats = fx.stats(id);
        assert_eq!(
            (stats.completed, stats.failed),
            (3, 0),
            "a waiting alert completed unseen"
        );
        assert_eq!(browser.eval("document.body.dataset.waiting"), json!("2"));

        // Then every one of them shows, once, never more than 3 at a time.
        fx.wait(LONG, "all six shown", || fx.stats(id).completed == 6);
        let all: Vec<i64> = fx.items(id).iter().map(|i| i.id).collect();
        assert_eq!(ids_of(browser.eval("window.__shown")), all);
        assert_eq!(browser.eval("window.__most"), json!(3));
        assert_eq!(browser.eval("document.body.dataset.waiting"), json!("0"));
        drop(w);
    }
}

#[test]
fn an_alert_that_cannot_reach_the_screen_in_time_fails_and_never_shows_late() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[
                ("max_concurrency", json!(4)),
                ("ack_timeout_ms", json!(2000)),
            ],
            true,
            &[(EventType::Share, 6)],
        )
        else {
            return;
        };
        browser.eval(WATCH_ALERTS);
        for n in 0..4 {
            fx.enqueue_event(
                EventType::Share,
                &format!("Sharer {n}"),
                json!({"share_count": 1}),
            );
        }
        // The fourth waits behind three alerts that stay 5 s: longer than ack_timeout_ms.
        fx.wait(LONG, "three shown and one timed out", || {
            let s = fx.stats(id);
            s.completed == 3 && s.failed == 1
        });
        let failed = fx
            .items(id)
            .into_iter()
            .find(|i| i.status == QueueStatus::Failed)
            .unwrap();
        let err = failed.last_error.clone().unwrap_or_default();
        assert!(
            err.contains("no overlays page answered within 2000 ms"),
            "{err}"
        );
        // The page was told: it no longer holds it, and it never shows once the others left.
        browser.wait_for(
            LONG,
            "the page dropped the failed alert",
            "document.body.dataset.waiting === '0'",
        );
        browser.wait_for(
            LONG,
            "the three alerts left",
            "document.querySelectorAll('#alerts .alert').length === 0",
        );
        std::thread::sleep(Duration::from_millis(500));
        let shown = ids_of(browser.eval("window.__shown"));
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(!shown.contains(&failed.id), "the failed item showed late");
        drop(w);
    }
}

#[test]
fn subscribe_and_share_alerts_show_and_a_reachable_avatar_replaces_the_initial() {
    // An avatar on "TikTok's CDN", answered by the test through the browser (the page loads
    // only https avatars, and this machine reaches no CDN).
    const AVATAR: &str = "https://p16-sign.tiktokcdn.example/sofia-avatar.svg";
    const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"84\" height=\"84\">\
                       <rect width=\"84\" height=\"84\" fill=\"#19c37d\"/></svg>";
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[],
            true,
            &[(EventType::Subscribe, 8), (EventType::Share, 6)],
        )
        else {
            return;
        };
        browser.serve(AVATAR, "image/svg+xml", SVG.as_bytes());

        fx.enqueue_event(
            EventType::Subscribe,
            "Sofia ✨",
            json!({
                "source": "sub_notify", "sub_month": 3, "subscribe_type": 0,
                "user": {"nickname": "Sofia ✨", "unique_id": "sofia", "avatar_url": AVATAR}
            }),
        );
        fx.enqueue_event(
            EventType::Share,
            "Theo",
            json!({"share_count": 1, "share_type": 0, "user": {"nickname": "Theo"}}),
        );
        browser.wait_for(
            LONG,
            "the subscribe and share alerts",
            "[...document.querySelectorAll('#alerts .alert.subscribe')].some(a => \
               a.querySelector('.who').textContent === 'Sofia ✨' && \
               a.querySelector('.what').textContent === 'subscribed') && \
             [...document.querySelectorAll('#alerts .alert.share')].some(a => \
               a.querySelector('.who').textContent === 'Theo' && \
               a.querySelector('.what').textContent === 'shared the LIVE')",
        );
        // The picture loaded and took the initial's place.
        browser.wait_for(
            LONG,
            "the loaded avatar",
            "(() => { const i = document.querySelector('.alert.subscribe img.avatar'); \
               return i !== null && i.complete && i.naturalWidth === 84; })()",
        );
        assert_eq!(
            browser.eval("document.querySelector('.alert.subscribe img.avatar').src"),
            json!(AVATAR)
        );
        assert_eq!(
            browser.eval("document.querySelectorAll('.alert.subscribe .avatar').length"),
            json!(1),
            "the initial is still there next to the picture"
        );
        // No avatar: the initial.
        assert_eq!(
            browser.eval("document.querySelector('.alert.share .avatar').textContent"),
            json!("T")
        );
        assert_eq!(
            browser.eval("document.querySelector('.alert.share .avatar').tagName"),
            json!("DIV")
        );
        fx.wait(LONG, "both shown", || fx.stats(id).completed == 2);
        browser.screenshot(&screenshot_path("overlays-subscribe-share.png"));
        assert!(browser.dialogs().is_empty());
        drop(w);
    }
}

#[test]
fn alerts_waiting_when_the_socket_drops_are_not_shown_after_the_server_failed_them() {
    for mut fx in Fixture::all() {
        let Some(Stage {
            id,
            worker: w,
            mut browser,
        }) = stage(
            &fx,
            ServiceKind::Overlays,
            &[("no_page", json!("fail")), ("max_concurrency", json!(4))],
            true,
            &[(EventType::Follow, 7)],
        )
        else {
            return;
        };
        browser.eval(WATCH_ALERTS);
        // Keep hold of the page's socket (through its acks), to drop it like a network hiccup.
        browser.eval(
            "window.__sockets = []; const send = WebSocket.prototype.send; \
             WebSocket.prototype.send = function (d) { \
               if (!window.__sockets.includes(this)) window.__sockets.push(this); \
               return send.call(this, d); }; true",
        );
        for n in 0..4 {
            fx.enqueue_event(
                EventType::Follow,
                &format!("Fan {n}"),
                json!({"follow_count": n}),
            );
        }
        browser.wait_for(
            LONG,
            "three on screen and one waiting",
            "document.querySelectorAll('#alerts .alert').length === 3 && \
             document.body.dataset.waiting === '1' && window.__sockets.length === 1",
        );
        fx.wait(LONG, "the three shown completed", || {
            fx.stats(id).completed == 3
        });
        browser.eval("window.__sockets[0].close(); true");

        // The server failed the waiting one (no_page=fail); the page let go of it.
        fx.wait(LONG, "the waiting one failed", || fx.stats(id).failed == 1);
        let failed = fx
            .items(id)
            .into_iter()
            .find(|i| i.status == QueueStatus::Failed)
            .unwrap();
        let err = failed.last_error.clone().unwrap_or_default();
        assert!(err.contains("disconnected before it answered"), "{err}");
        assert_eq!(browser.eval("document.body.dataset.waiting"), json!("0"));
        browser.wait_for(
            LONG,
            "the page reconnected and the three alerts left",
            "document.body.dataset.connected === 'true' && \
             document.querySelectorAll('#alerts .alert').length === 0",
        );
        std::thread::sleep(Duration::from_millis(500));
        let shown = ids_of(browser.eval("window.__shown"));
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(!shown.contains(&failed.id), "a failed item showed");
        drop(w);
    }
}
