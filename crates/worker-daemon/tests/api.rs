//! The control room's API against a worker daemon process, on SQLite and (with
//! TEST_MYSQL_URL) MariaDB: every endpoint, bad input with ctl's sentences, unknown things,
//! and the CSRF refusal that leaves everything as it was.

mod common;

use std::time::Duration;

/// Long enough for any step of a test on a loaded machine.
const LONG: Duration = Duration::from_secs(60);

use common::{http_request, Fixture, Worker};
use core_models::{services, EventType, QueueStatus, ServiceKind};
use dispatcher::{ClaimParams, Engine, Outcome};
use serde_json::{json, Value};

/// A worker daemon that serves the API but runs no service (its queues stay as the test
/// leaves them), and the CSRF token it handed out.
struct Api {
    /// Stopped when the test ends.
    _worker: Worker,
    base: String,
    token: String,
}

impl Api {
    fn start(fx: &Fixture) -> Api {
        let worker = fx.spawn_worker("api", &["--service", "no_such_service"]);
        let base = worker.http_base();
        let (status, _, body) = http_request(&base, "GET", "/api/csrf", &[], None);
        assert_eq!(status, 200, "{body}");
        let token = serde_json::from_str::<Value>(&body).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();
        Api {
            _worker: worker,
            base,
            token,
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = http_request(&self.base, "GET", path, &[], None);
        (status, parse(&body))
    }

    /// A state-changing request as the page makes it: the token and our own origin.
    fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let origin = self.base.clone();
        let (status, _, text) = http_request(
            &self.base,
            method,
            path,
            &[("X-CSRF-Token", &self.token), ("Origin", &origin)],
            Some(&body.to_string()),
        );
        (status, parse(&text))
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

/// Claims up to `max` items of the service as worker "t" would (`None` without its lease).
fn claim(
    conn: &mut core_models::DbConn,
    service_id: i64,
    max: usize,
) -> Option<Vec<dispatcher::ClaimedItem>> {
    Engine::new(conn)
        .claim(&ClaimParams {
            service_id,
            max,
            service_owner: "t",
            owner: "t",
            lease: Duration::from_secs(60),
            finished: &[],
        })
        .expect("claim")
        .items
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

#[test]
fn services_and_rules_are_managed_with_ctls_checks() {
    for fx in Fixture::all() {
        let api = Api::start(&fx);
        let (status, created) = api.send(
            "POST",
            "/api/services",
            json!({"name": "Big gifts", "slug": "big_gifts", "service_class": "dummy",
                   "max_queue_size": 20, "settings": {"note": "hi"},
                   "events": ["GiftEvent:10:sync:keep"], "streamers": ["@Some_Streamer"]}),
        );
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["slug"], "big_gifts");
        assert_eq!(created["paused"], false);
        assert_eq!(created["streamers"], json!(["some_streamer"]));
        assert_eq!(created["event_configs"][0]["event_type"], "GiftEvent");
        assert_eq!(created["queue"]["pending"], 0);

        // Bad input: 422 with the sentence ctl prints, nothing written.
        let (status, bad) = api.send(
            "POST",
            "/api/services",
            json!({"name": "x", "slug": "Not A Slug"}),
        );
        assert_eq!(status, 422);
        assert!(
            error_of(&bad).starts_with("invalid slug 'Not A Slug'"),
            "{bad}"
        );
        let (status, dup) = api.send(
            "POST",
            "/api/services",
            json!({"name": "again", "slug": "big_gifts"}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&dup).contains("already exists"), "{dup}");
        let (status, unrunnable) = api.send(
            "POST",
            "/api/services",
            json!({"name": "hook", "slug": "hook", "service_class": "webhook"}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&unrunnable).contains("needs the setting 'url'"));
        let (status, garbage) = api.send("POST", "/api/services", json!({"nme": "typo"}));
        assert_eq!(status, 422, "{garbage}");
        let (_, list) = api.get("/api/services");
        let slugs: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|s| s["slug"].as_str())
            .collect();
        assert_eq!(slugs, ["big_gifts"], "nothing half-written");

        let (status, patched) = api.send(
            "PATCH",
            "/api/services/big_gifts",
            json!({"name": "Big gifts!", "settings": {"note": null, "x": 1}, "streamers": [],
                   "is_active": false}),
        );
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["name"], "Big gifts!");
        assert_eq!(patched["is_active"], false);
        assert_eq!(patched["streamers"], json!([]));
        assert_eq!(patched["settings_json"], json!({"x": 1}));
        let (status, bad) = api.send(
            "PATCH",
            "/api/services/big_gifts",
            json!({"max_queue_size": 0, "name": "never"}),
        );
        assert_eq!(status, 422, "{bad}");
        assert_eq!(api.get("/api/services/big_gifts").1["name"], "Big gifts!");
        let (status, _) = api.send("PATCH", "/api/services/nope", json!({"name": "x"}));
        assert_eq!(status, 404);
        let (status, missing) = api.get("/api/services/nope");
        assert_eq!(status, 404);
        assert!(error_of(&missing).contains("unknown service 'nope'"));

        // Rules.
        let (status, rule) = api.send(
            "POST",
            "/api/services/big_gifts/rules",
            json!({"name": "roses", "event_type": "GiftEvent", "priority": 8,
                   "conditions": {"gifts": ["Rose"], "min_count": 5}, "cooldown": "30s",
                   "streak_policy": "end", "action": "alert"}),
        );
        assert_eq!(status, 201, "{rule}");
        assert_eq!(rule["cooldown_ms"], 30_000);
        assert_eq!(
            rule["conditions"],
            json!({"gifts": ["Rose"], "min_count": 5})
        );
        let (status, bad) = api.send(
            "POST",
            "/api/services/big_gifts/rules",
            json!({"name": "loud", "event_type": "CommentEvent", "priority": 11}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&bad).contains("priority 11 is out of range"));
        let (status, bad) = api.send(
            "POST",
            "/api/services/big_gifts/rules",
            json!({"name": "combo", "event_type": "CommentEvent", "streak_policy": "end"}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&bad).contains("--streak applies to GiftEvent rules only"));
        let (status, changed) = api.send(
            "PATCH",
            "/api/services/big_gifts/rules/roses",
            json!({"cooldown": null, "is_enabled": false, "conditions": {"min_diamonds": 100}}),
        );
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["cooldown_ms"], Value::Null);
        assert_eq!(changed["is_enabled"], false);
        assert_eq!(changed["conditions"], json!({"min_diamonds": 100}));
        let (_, rules) = api.get("/api/services/big_gifts/rules");
        assert_eq!(rules.as_array().map(Vec::len), Some(2));
        let (status, _) = api.send("DELETE", "/api/services/big_gifts/rules/roses", json!({}));
        assert_eq!(status, 200);
        let (status, gone) = api.send("DELETE", "/api/services/big_gifts/rules/roses", json!({}));
        assert_eq!(status, 404, "{gone}");

        // Pause and resume, as the service's JSON shows.
        let (status, paused) = api.send("POST", "/api/services/big_gifts/pause", json!({}));
        assert_eq!((status, &paused["paused"]), (200, &json!(true)));
        assert!(
            services::find(&mut fx.conn(), "big_gifts")
                .unwrap()
                .is_paused
        );
        let (_, resumed) = api.send("POST", "/api/services/big_gifts/resume", json!({}));
        assert_eq!(resumed["paused"], false);

        let (status, removed) = api.send("DELETE", "/api/services/big_gifts", json!({}));
        assert_eq!(status, 200, "{removed}");
        assert_eq!(api.get("/api/services/big_gifts").0, 404);
        assert_eq!(api.get("/api/no/such/thing").0, 404);
        drop(api);
    }
}

#[test]
fn state_changes_without_the_token_or_from_another_site_are_refused() {
    for fx in Fixture::all() {
        fx.add_service("overlays", ServiceKind::Overlays, &[], true, &[]);
        let api = Api::start(&fx);
        let path = "/api/services/overlays/pause";
        let no_token = http_request(&api.base, "POST", path, &[], Some("{}"));
        assert_eq!(no_token.0, 403, "{}", no_token.2);
        let wrong = http_request(&api.base, "POST", path, &[("X-CSRF-Token", "guess")], None);
        assert_eq!(wrong.0, 403);
        let cross_site = http_request(
            &api.base,
            "POST",
            path,
            &[
                ("X-CSRF-Token", &api.token),
                ("Origin", "https://evil.example"),
            ],
            None,
        );
        assert_eq!(cross_site.0, 403);
        assert!(cross_site.2.contains("cross-site"), "{}", cross_site.2);
        let cross_referer = http_request(
            &api.base,
            "DELETE",
            "/api/services/overlays",
            &[
                ("X-CSRF-Token", &api.token),
                ("Referer", "https://evil.example/attack.html"),
            ],
            None,
        );
        assert_eq!(cross_referer.0, 403);
        let svc = services::find(&mut fx.conn(), "overlays").expect("still there");
        assert!(!svc.is_paused, "a refused request changed nothing");
        // GET never changes anything, and needs no token.
        assert_eq!(api.get(path).0, 405);
        let (status, _) = api.send("POST", path, json!({}));
        assert_eq!(status, 200);
    }
}

#[test]
fn queues_test_events_sessions_events_config_and_metrics() {
    for fx in Fixture::all() {
        let id = fx.add_service(
            "dino",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10), (EventType::Comment, 5)],
        );
        let api = Api::start(&fx);

        // Test events need a streamer: the setting, or given.
        let (status, bad) = api.send(
            "POST",
            "/api/test-events",
            json!({"event_type": "GiftEvent", "gift": "Rose"}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&bad).contains("tiktok_user"), "{bad}");
        let (status, set) = api.send(
            "PUT",
            "/api/config/tiktok_user",
            json!({"value": "streamer"}),
        );
        assert_eq!(status, 200, "{set}");
        assert_eq!(api.get("/api/config/tiktok_user").1["value"], "streamer");
        let (status, all) = api.get("/api/config");
        assert_eq!(status, 200);
        assert_eq!(all["tiktok_user"], "streamer", "{all}");
        let (status, bad) = api.send("PUT", "/api/config/%20", json!({"value": "x"}));
        assert_eq!(status, 422, "{bad}");
        assert_eq!(api.get("/api/config/nope").0, 404);
        let (status, bad) = api.send(
            "POST",
            "/api/test-events",
            json!({"event_type": "GiftEvent"}),
        );
        assert_eq!(status, 422);
        assert!(error_of(&bad).contains("--gift"));
        for n in [5, 3, 1] {
            let (status, sent) = api.send(
                "POST",
                "/api/test-events",
                json!({"event_type": "GiftEvent", "user": "alice", "gift": "Rose", "count": n}),
            );
            assert_eq!(status, 201, "{sent}");
            assert_eq!(sent["dispatch"]["services"][id.to_string()]["enqueued"], 1);
        }
        let (_, sent) = api.send(
            "POST",
            "/api/test-events",
            json!({"event_type": "CommentEvent", "user": "bob", "comment": "hello, world"}),
        );
        let test_session = sent["session_id"].as_i64().expect("session");

        // The queue in claim order; one claimed (running), one failed.
        let (_, items) = api.get("/api/queue/dino?status=pending");
        let ids: Vec<i64> = items
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["id"].as_i64())
            .collect();
        assert_eq!(ids.len(), 4);
        let mut conn = fx.conn();
        assert!(
            claim(&mut conn, id, 2).is_none(),
            "no lease held: nothing claimed"
        );
        Engine::new(&mut conn)
            .acquire_service(id, "t", Duration::from_secs(60))
            .expect("lease");
        let claimed = claim(&mut conn, id, 2).expect("claimed");
        let (failing, running) = (claimed[0].item.id, claimed[1].item.id);
        Engine::new(&mut conn)
            .finish("t", &[(failing, Outcome::Failed("boom".into()))])
            .expect("finish");

        let (status, skipped) = api.send("POST", "/api/queue/dino/skip", json!({"id": running}));
        assert_eq!(status, 200, "{skipped}");
        let (status, again) = api.send("POST", "/api/queue/dino/skip", json!({"id": running}));
        assert_eq!(status, 404, "{again}");
        let (_, by_reason) = api.get("/api/queue/dino?reason=skipped");
        assert_eq!(by_reason[0]["id"], running);
        assert_eq!(by_reason[0]["status"], "failed");

        let (status, retried) = api.send("POST", "/api/queue/dino/retry", json!({"id": failing}));
        assert_eq!((status, &retried["retried"]), (200, &json!(1)));
        let (_, item) = api.get("/api/queue/dino?status=pending&limit=10");
        let back = item
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == failing)
            .expect("back in the queue");
        assert_eq!(back["attempts"], 1, "attempts kept");
        let (status, _) = api.send("POST", "/api/queue/dino/retry", json!({"id": failing}));
        assert_eq!(status, 404, "not failed any more");

        let (status, cleared) = api.send("POST", "/api/queue/dino/clear", json!({}));
        assert_eq!((status, &cleared["cleared"]), (200, &json!(3)));
        let stats = Engine::new(&mut conn).stats(Some(id)).unwrap();
        assert_eq!(
            (stats[0].pending, stats[0].discarded, stats[0].failed),
            (0, 3, 1)
        );
        let (_, cleared) = api.get("/api/queue/dino?reason=cleared");
        assert_eq!(cleared.as_array().map(Vec::len), Some(3));
        assert_eq!(api.get("/api/queue/dino?status=lost").0, 422);
        assert_eq!(api.get("/api/queue/nope").0, 404);

        // Sessions: the fixture's LIVE session and the test session.
        let (_, list) = api.get("/api/sessions");
        let test = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == test_session)
            .expect("listed");
        assert_eq!(test["is_test"], true);
        let (status, report) = api.get(&format!("/api/sessions/{test_session}/report"));
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["gifts"]["count"], 9);
        assert_eq!(report["gifts"]["diamonds"], 9);
        assert_eq!(report["top_gifters"][0]["unique_id"], "alice");
        assert_eq!(report["top_commenters"][0]["unique_id"], "bob");
        assert_eq!(report["events_by_type"]["GiftEvent"], 3);
        assert!(!report["per_minute"].as_array().unwrap().is_empty());
        assert_eq!(api.get("/api/sessions/999999/report").0, 404);

        // The events browser and its exports.
        let (_, found) = api.get(&format!(
            "/api/events?session={test_session}&type=CommentEvent&q=hello"
        ));
        assert_eq!(found.as_array().map(Vec::len), Some(1));
        assert_eq!(found[0]["user_unique_id"], "bob");
        let (_, by_user) = api.get("/api/events?user=@alice");
        assert_eq!(by_user.as_array().map(Vec::len), Some(3));
        let (status, head, csv) = http_request(
            &api.base,
            "GET",
            &format!("/api/events?session={test_session}&format=csv"),
            &[],
            None,
        );
        assert_eq!(status, 200);
        assert!(head.contains("text/csv"), "{head}");
        assert!(csv.starts_with("id,session_id,event_type"), "{csv}");
        assert_eq!(csv.lines().count(), 5, "{csv}");
        assert!(
            csv.contains("\"{\"\"comment\"\":\"\"hello, world\"\""),
            "{csv}"
        );
        assert_eq!(api.get("/api/events?limit=0").0, 422);
        assert_eq!(api.get("/api/events?type=Nope").0, 422);

        // The dashboard and the metrics.
        let (status, dash) = api.get("/api/dashboard");
        assert_eq!(status, 200, "{dash}");
        let dino = dash["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slug"] == "dino")
            .expect("dino");
        assert_eq!(
            (dino["failed"].as_i64(), dino["dropped"].as_i64()),
            (Some(1), Some(3))
        );
        let (status, head, metrics) = http_request(&api.base, "GET", "/metrics", &[], None);
        assert_eq!(status, 200);
        assert!(head.contains("openmetrics"), "{head}");
        assert!(
            metrics.contains(r#"tiklive_queue_items{service="dino",status="failed"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("tiklive_events_captured_total"),
            "{metrics}"
        );
        let rows = fx.items(id);
        assert!(rows.iter().all(|r| r.status != QueueStatus::Processing));
        drop(api);
    }
}

#[test]
fn a_skipped_sync_item_lets_its_worker_move_on_at_once() {
    for fx in Fixture::all() {
        skip_and_move_on(fx, Skipper::Api);
    }
}

#[test]
fn a_sync_item_skipped_elsewhere_is_let_go_of_at_the_next_heartbeat() {
    for fx in Fixture::all() {
        skip_and_move_on(fx, Skipper::Ctl);
    }
}

/// Who skips: this daemon's API (its runner hears at once), or another process (`ctl queue
/// skip`: the runner finds out when its item lease is not renewed).
enum Skipper {
    Api,
    Ctl,
}

fn skip_and_move_on(mut fx: Fixture, skipper: Skipper) {
    // A SYNC service that takes 60 s per item: without the skip, the second item would wait
    // a minute.
    let id = fx.add_service(
        "slowpoke",
        ServiceKind::Slow,
        &[("delay_ms", json!(60_000)), ("timeout_ms", json!(120_000))],
        false,
        &[(EventType::Comment, 5)],
    );
    fx.enqueue(&[EventType::Comment, EventType::Comment]);
    let worker = fx.spawn_worker("slow", &["--service", "slowpoke"]);
    let base = worker.http_base();
    let running = |fx: &Fixture| {
        fx.items(id)
            .into_iter()
            .filter(|i| i.status == QueueStatus::Processing)
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    common::wait_until_or(
        LONG,
        "the first item running",
        || running(&fx).len() == 1,
        || worker.output(),
    );
    let first = running(&fx)[0];
    let started = std::time::Instant::now();
    match skipper {
        Skipper::Api => {
            let (_, _, csrf) = http_request(&base, "GET", "/api/csrf", &[], None);
            let token = parse(&csrf)["token"].as_str().expect("token").to_owned();
            let (status, _, body) = http_request(
                &base,
                "POST",
                "/api/queue/slowpoke/skip",
                &[("X-CSRF-Token", &token)],
                Some(&json!({ "id": first }).to_string()),
            );
            assert_eq!(status, 200, "{body}");
        }
        Skipper::Ctl => Engine::new(&mut fx.conn())
            .skip("slowpoke", first)
            .expect("skip"),
    }
    common::wait_until_or(
        LONG,
        "the second item running",
        || running(&fx).iter().any(|&i| i != first),
        || worker.output(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the worker waited for the skipped item"
    );
    let skipped = fx.items(id).into_iter().find(|i| i.id == first).unwrap();
    assert_eq!(skipped.status, QueueStatus::Failed);
    assert_eq!(skipped.reason, Some(core_models::QueueReason::Skipped));
    drop(worker);
}
