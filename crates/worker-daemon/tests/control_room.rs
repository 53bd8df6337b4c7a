//! The control room in headless Chromium, clicked and typed into as a streamer would: add a
//! service with two rules, pause and resume it, send a test gift and watch the dashboard
//! count it, retry a failed item, open the session's report and find its charts. A
//! screenshot of each page lands in `<target>/screenshots/control-room-*.png`.

mod common;

use std::time::Duration;

use common::{Fixture, Worker};
use core_models::{config_store, services, QueueStatus, SessionStatus};
use dispatcher::{ClaimParams, Engine, Outcome};
use test_support::browser::{screenshot_path, Browser};

const LONG: Duration = Duration::from_secs(60);

fn shot(browser: &mut Browser, name: &str) {
    // Let fonts and the last update settle.
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&screenshot_path(&format!("control-room-{name}.png")));
}

/// Waits until `expression` is true in the page.
fn until(browser: &mut Browser, what: &str, expression: &str) {
    browser.wait_for(LONG, what, expression);
}

fn text_of(selector: &str) -> String {
    format!(
        "(document.querySelector({}) || {{innerText: ''}}).innerText",
        serde_json::json!(selector)
    )
}

#[test]
fn a_streamer_sets_up_tests_and_reviews_a_stream_in_the_control_room() {
    let Some(fx) = Fixture::all().into_iter().next() else {
        return;
    };
    config_store::set(&mut fx.conn(), "tiktok_user", "streamer").expect("setting");
    // Before going live: no LIVE session is being captured, so the dashboard follows the
    // test session.
    core_models::sessions::finish(
        &mut fx.conn(),
        fx.session.id,
        SessionStatus::Completed,
        None,
    )
    .expect("end the fixture's session");
    let worker: Worker = fx.spawn_worker("room", &[]);
    let base = worker.http_base();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    browser.resize(1280, 720);

    // A new service with two rules.
    browser.open(&format!("{base}/#services"));
    until(
        &mut browser,
        "the services page",
        "!!document.querySelector('#new-service')",
    );
    first_load_is_small_and_local(&mut browser, &base);
    browser.click("#new-service");
    browser.type_into("#new-name", "Gift alerts");
    browser.type_into("#new-slug", "gift_alerts");
    browser.type_into("#new-max", "40");
    browser.click("#new-save");
    until(
        &mut browser,
        "the new service's card",
        "!!document.querySelector('[data-service=gift_alerts] [data-action=open]')",
    );
    // The new service opens with its rules shown.
    until(
        &mut browser,
        "its rules",
        "!!document.querySelector('[data-service=gift_alerts] .service-body:not([hidden]) [data-action=new-rule]')",
    );
    add_rule(
        &mut browser,
        "roses",
        "GiftEvent",
        &[("#rule-gift_alerts-gifts", "Rose")],
        "alert",
    );
    add_rule(
        &mut browser,
        "greetings",
        "CommentEvent",
        &[("#rule-gift_alerts-comment_prefix", "!hi")],
        "none",
    );
    until(
        &mut browser,
        "both rules listed",
        "document.querySelectorAll('[data-service=gift_alerts] [data-rule]').length === 2",
    );
    // Edit one: its action and a cooldown.
    browser.click("[data-service=gift_alerts] [data-rule=roses] [data-action=edit-rule]");
    let roses_id = core_models::rules::list(
        &mut fx.conn(),
        services::find(&mut fx.conn(), "gift_alerts").unwrap().id,
    )
    .expect("rules")
    .into_iter()
    .find(|r| r.name == "roses")
    .expect("roses")
    .id;
    let field = |name: &str| format!("#rule-gift_alerts-{roses_id}-{name}");
    browser.type_into(&field("action"), "jump");
    browser.type_into(&field("user_cooldown"), "10s");
    browser.click(&field("save"));
    until(
        &mut browser,
        "the edited rule",
        &format!(
            "{}.includes('jump')",
            text_of("[data-service=gift_alerts] [data-rule=roses]")
        ),
    );
    shot(&mut browser, "services");
    let rules = core_models::rules::list(
        &mut fx.conn(),
        services::find(&mut fx.conn(), "gift_alerts").unwrap().id,
    )
    .expect("rules");
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"roses") && names.contains(&"greetings"));
    let greetings = rules.iter().find(|r| r.name == "greetings").unwrap();
    assert_eq!(greetings.event_type, core_models::EventType::Comment);
    let roses = rules.iter().find(|r| r.name == "roses").unwrap();
    assert_eq!(roses.conditions.as_deref(), Some(r#"{"gifts":["Rose"]}"#));
    assert_eq!(roses.action.as_deref(), Some("jump"));
    assert_eq!(roses.user_cooldown_ms, Some(10_000));

    // Pause and resume from the dashboard.
    browser.open(&format!("{base}/#dashboard"));
    let pause = "[data-service=gift_alerts] [data-action=pause]";
    until(
        &mut browser,
        "the pause button",
        &format!("!!document.querySelector('{pause}')"),
    );
    browser.click(pause);
    until(
        &mut browser,
        "the service shown paused",
        &format!(
            "{}.includes('PAUSED')",
            text_of("tr[data-service=gift_alerts]")
        ),
    );
    assert!(
        services::find(&mut fx.conn(), "gift_alerts")
            .unwrap()
            .is_paused
    );
    browser.click("[data-service=gift_alerts] [data-action=resume]");
    until(
        &mut browser,
        "the service running again",
        &format!(
            "!{}.includes('PAUSED')",
            text_of("tr[data-service=gift_alerts]")
        ),
    );
    assert!(
        !services::find(&mut fx.conn(), "gift_alerts")
            .unwrap()
            .is_paused
    );

    // A test gift, counted on the dashboard.
    browser.open(&format!("{base}/#test"));
    until(
        &mut browser,
        "the test form",
        "!!document.querySelector('#send-test')",
    );
    browser.type_into("#test-user", "alice");
    browser.type_into("#test-gift", "Rose");
    browser.type_into("#test-count", "5");
    browser.click("#send-test");
    until(
        &mut browser,
        "the test result",
        &format!(
            "{}.includes('queued for gift_alerts')",
            text_of("#test-result")
        ),
    );
    shot(&mut browser, "test-events");
    browser.open(&format!("{base}/#dashboard"));
    until(
        &mut browser,
        "the gift on the dashboard",
        &format!(
            "{}.includes('5') && {} === '1'",
            text_of("[data-tile=diamonds] .value"),
            text_of("tr[data-service=gift_alerts] [data-col=completed]")
        ),
    );
    shot(&mut browser, "dashboard");

    // A failed item, retried from the queue page.
    let failed = fail_one(&fx, &mut browser, &base);
    browser.open(&format!("{base}/#queue/gift_alerts"));
    let retry = format!("tr[data-item='{failed}'] [data-action=retry]");
    until(
        &mut browser,
        "the retry button",
        &format!("!!document.querySelector(\"{retry}\")"),
    );
    shot(&mut browser, "queue");
    browser.click(&retry);
    until(
        &mut browser,
        "the item retried and done",
        &format!(
            "{}.includes('COMPLETED')",
            text_of(&format!("tr[data-item='{failed}']"))
        ),
    );
    let item = fx
        .items(services::find(&mut fx.conn(), "gift_alerts").unwrap().id)
        .into_iter()
        .find(|i| i.id == failed)
        .expect("item");
    assert_eq!(item.status, QueueStatus::Completed);

    // The test session's report, with its charts.
    browser.open(&format!("{base}/#sessions"));
    until(
        &mut browser,
        "the session list",
        "!!document.querySelector('[data-session]')",
    );
    shot(&mut browser, "sessions");
    browser.click("[data-session]");
    until(
        &mut browser,
        "the report's charts",
        "document.querySelectorAll('svg[data-chart] rect.bar').length >= 2 \
         && !!document.querySelector('svg[data-chart=viewers]')",
    );
    let tiles = browser.eval(&text_of("#report-tiles"));
    assert!(tiles.as_str().unwrap_or("").contains("GIFTS"), "{tiles}");
    shot(&mut browser, "report");

    browser.open(&format!("{base}/#events"));
    until(
        &mut browser,
        "the events",
        "!!document.querySelector('#ev-search')",
    );
    browser.type_into("#ev-user", "alice");
    browser.click("#ev-search");
    until(
        &mut browser,
        "alice's gift",
        "document.querySelectorAll('.table-wrap tbody tr').length === 1",
    );
    shot(&mut browser, "events");
    browser.open(&format!("{base}/#settings"));
    until(
        &mut browser,
        "the settings",
        "!!document.querySelector('[data-key=tiktok_user]')",
    );
    shot(&mut browser, "settings");
    let errors: Vec<_> = browser
        .events
        .iter()
        .filter(|e| e["method"] == "Runtime.exceptionThrown")
        .collect();
    assert!(errors.is_empty(), "page errors: {errors:?}");
    drop(worker);
}

/// The page and everything it loaded: under 200 KB, all from the daemon itself.
fn first_load_is_small_and_local(browser: &mut Browser, base: &str) {
    let loaded = browser.eval(
        "JSON.stringify(performance.getEntriesByType('navigation') \
           .concat(performance.getEntriesByType('resource')) \
           .map(e => [e.name, e.decodedBodySize]))",
    );
    let loaded: Vec<(String, u64)> =
        serde_json::from_str(loaded.as_str().expect("entries")).expect("json");
    assert!(loaded.len() >= 3, "page, script and styles: {loaded:?}");
    let origin = base.trim_end_matches('/');
    for (url, _) in &loaded {
        assert!(
            url.starts_with(origin) || url.starts_with("ws://"),
            "a request to another host: {url}"
        );
    }
    let total: u64 = loaded.iter().map(|(_, n)| n).sum();
    eprintln!("first load: {total} bytes in {} requests", loaded.len());
    assert!(total < 200 * 1024, "first load {total} bytes: {loaded:?}");
}

/// Fills the "new rule" form of gift_alerts and submits it.
fn add_rule(
    browser: &mut Browser,
    name: &str,
    event_type: &str,
    fields: &[(&str, &str)],
    action: &str,
) {
    until(
        browser,
        "the rule button",
        "!!document.querySelector('[data-service=gift_alerts] [data-action=new-rule]')",
    );
    browser.click("[data-service=gift_alerts] [data-action=new-rule]");
    browser.type_into("#rule-gift_alerts-name", name);
    browser.choose("#rule-gift_alerts-type", event_type);
    for (selector, text) in fields {
        browser.type_into(selector, text);
    }
    browser.type_into("#rule-gift_alerts-action", action);
    browser.click("#rule-gift_alerts-save");
    until(
        browser,
        "the rule in the list",
        &format!("!!document.querySelector('[data-service=gift_alerts] [data-rule=\"{name}\"]')"),
    );
}

/// Pauses gift_alerts, sends a gift it takes, and fails the item as a worker would (claimed
/// under a lease, then failed); resumes the service. Returns the item's id.
fn fail_one(fx: &Fixture, browser: &mut Browser, base: &str) -> i64 {
    let mut conn = fx.conn();
    services::set_paused(&mut conn, "gift_alerts", true).expect("pause");
    let id = services::find(&mut conn, "gift_alerts").unwrap().id;
    // Wait for the worker to let the service go (it stops paused services).
    let deadline = std::time::Instant::now() + LONG;
    while Engine::new(&mut conn)
        .service_owner(id)
        .expect("owner")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker kept the paused service"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.open(&format!("{base}/#test"));
    until(
        browser,
        "the test form",
        "!!document.querySelector('#send-test')",
    );
    browser.type_into("#test-gift", "Rose");
    browser.click("#send-test");
    until(
        browser,
        "the result",
        &format!("{}.includes('queued')", text_of("#test-result")),
    );
    let mut engine = Engine::new(&mut conn);
    assert!(engine
        .acquire_service(id, "test", Duration::from_secs(60))
        .expect("lease"));
    let claimed = engine
        .claim(&ClaimParams {
            service_id: id,
            max: 1,
            service_owner: "test",
            owner: "test",
            lease: Duration::from_secs(60),
            finished: &[],
        })
        .expect("claim")
        .items
        .expect("lease held");
    let item = claimed[0].item.id;
    engine
        .finish(
            "test",
            &[(item, Outcome::Failed("the overlay was not open".into()))],
        )
        .expect("fail");
    engine.release_service(id, "test").expect("release");
    services::set_paused(&mut conn, "gift_alerts", false).expect("resume");
    item
}
