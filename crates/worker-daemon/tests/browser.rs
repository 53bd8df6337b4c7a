//! The browser sources in headless Chromium: events enqueued through the real dispatcher go
//! through the worker daemon (a process) to the pages, which render and ack them.
//! Screenshots land in `<target>/screenshots/`.

mod common;

use std::time::Duration;

use common::{http_get, Fixture};
use core_models::{EventType, QueueStatus, ServiceKind};
use serde_json::json;
use test_support::browser::{screenshot_path, Browser};

const LONG: Duration = Duration::from_secs(60);

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
        let id = fx.add_service(
            "overlays",
            ServiceKind::Overlays,
            &[],
            true,
            &[
                (EventType::Gift, 10),
                (EventType::Follow, 7),
                (EventType::Comment, 5),
            ],
        );
        let w = fx.spawn_worker("w", &["--service", "overlays"]);
        let base = w.http_base();
        let Some(mut browser) = Browser::launch() else {
            return;
        };
        browser.open(&format!("{base}/overlays"));
        browser.wait_for(
            LONG,
            "the page's WebSocket",
            "document.body.dataset.connected === 'true'",
        );

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
        browser.open(&format!("{base}/overlays"));
        browser.wait_for(
            LONG,
            "the page's WebSocket",
            "document.body.dataset.connected === 'true'",
        );
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
        let id = fx.add_service(
            "dinochrome",
            ServiceKind::DinoChrome,
            &[],
            false,
            &[(EventType::Comment, 6), (EventType::Gift, 10)],
        );
        let w = fx.spawn_worker("w", &["--service", "dinochrome"]);
        let base = w.http_base();
        let Some(mut browser) = Browser::launch() else {
            return;
        };
        browser.open(&format!("{base}/dino"));
        browser.wait_for(
            LONG,
            "the page's WebSocket",
            "document.body.dataset.connected === 'true'",
        );
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
    browser.open(&format!("{base}/overlays"));
    browser.wait_for(
        LONG,
        "the page's WebSocket",
        "document.body.dataset.connected === 'true'",
    );
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
