//! `ctl` as a process, on SQLite and (with TEST_MYSQL_URL) MariaDB/MySQL: exit codes, output,
//! resulting rows, and for bad input: exit 2, one line naming the problem, nothing written.

use std::process::{Command, Output};

use core_models::{config_store, services, sessions, DbConn, EventType};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use dispatcher::{Batch, ClaimParams, Engine, Outcome, SessionRef};
use test_support::TestDb;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ctl(db: &TestDb, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("CTL_LOG")
        .output()
        .expect("run ctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(db: &TestDb, args: &[&str]) -> String {
    let r = ctl(db, args);
    assert_eq!(r.code, 0, "ctl {args:?} failed: {}{}", r.stdout, r.stderr);
    r.stdout
}

fn json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let out = ok(db, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ctl {args:?}: not JSON ({e}): {out}"))
}

fn ready_db() -> Vec<TestDb> {
    let dbs = TestDb::all();
    for db in &dbs {
        ok(db, &["migrate"]);
        ok(db, &["populate-initial-data"]);
    }
    dbs
}

#[derive(QueryableByName, Debug, PartialEq)]
struct TableState {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Text>)]
    last: Option<String>,
}

/// Row count and latest `updated_at` of every table: any write changes one of them.
fn snapshot(db: &TestDb) -> Vec<TableState> {
    let mut conn = db.conn();
    [
        "live_sessions",
        "live_events",
        "services",
        "service_event_configs",
        "event_queue",
        "service_leases",
        "capture_leases",
        "service_streamers",
        "app_config",
    ]
    .iter()
    .map(|t| {
        let q = format!("SELECT COUNT(*) AS n, CAST(MAX(updated_at) AS CHAR) AS last FROM {t}");
        core_models::with_conn!(&mut conn, |c| diesel::sql_query(&q)
            .get_result::<TableState>(c)
            .unwrap())
    })
    .collect()
}

#[test]
fn migrate_is_idempotent_and_says_what_it_did() {
    for db in TestDb::all() {
        let first = ok(&db, &["migrate"]);
        assert!(
            first.contains("Applied migration 2026-11-27-000001_initial"),
            "{first}"
        );
        let second = ok(&db, &["migrate"]);
        assert!(second.contains("is up to date"), "{second}");
    }
}

#[test]
fn commands_refuse_an_unmigrated_database() {
    for db in TestDb::all() {
        let r = ctl(&db, &["service", "list"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("run `ctl migrate` first"), "{}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1);
    }
}

/// (slug, max queue, all async, [(type, priority, discardable, enabled)])
type SeededService = (
    &'static str,
    i32,
    bool,
    &'static [(EventType, i32, bool, bool)],
);

#[test]
fn populate_twice_gives_exactly_the_originals_rows() {
    for db in TestDb::all() {
        ok(&db, &["migrate"]);
        let first = ok(&db, &["populate-initial-data"]);
        assert!(first.contains("Created service dinochrome"), "{first}");
        let before = snapshot(&db);
        let second = ok(&db, &["populate-initial-data"]);
        assert!(second.contains("nothing changed"), "{second}");
        assert_eq!(before, snapshot(&db), "a second run wrote something");

        let mut conn = db.conn();
        assert_eq!(
            config_store::list(&mut conn).unwrap().len(),
            1,
            "only tiktok_user"
        );
        assert_eq!(
            config_store::get(&mut conn, "tiktok_user")
                .unwrap()
                .as_deref(),
            Some("")
        );
        let all = services::list(&mut conn).unwrap();
        assert_eq!(all.len(), 2);
        let expect: [SeededService; 2] = [
            (
                "dinochrome",
                50,
                false,
                &[
                    (EventType::Gift, 10, false, true),
                    (EventType::Subscribe, 9, false, true),
                    (EventType::Follow, 8, false, true),
                    (EventType::Share, 7, false, true),
                    (EventType::Comment, 6, true, true),
                    (EventType::Like, 3, true, true),
                    (EventType::Join, 2, true, false),
                ],
            ),
            (
                "overlays",
                100,
                true,
                &[
                    (EventType::Gift, 10, false, true),
                    (EventType::Subscribe, 8, false, true),
                    (EventType::Follow, 7, false, true),
                    (EventType::Share, 6, true, true),
                    (EventType::Comment, 5, true, true),
                    (EventType::Join, 3, true, true),
                    (EventType::Like, 2, true, true),
                ],
            ),
        ];
        for (slug, max, is_async, configs) in expect {
            let s = services::find(&mut conn, slug).unwrap();
            assert!(s.is_active);
            assert_eq!(s.max_queue_size, max);
            assert_eq!(s.service_class, slug);
            let got: Vec<(EventType, i32, bool, bool, bool)> = services::configs(&mut conn, s.id)
                .unwrap()
                .into_iter()
                .map(|c| {
                    (
                        c.event_type,
                        c.priority.get(),
                        c.is_async,
                        c.is_discardable,
                        c.is_enabled,
                    )
                })
                .collect();
            let want: Vec<_> = configs
                .iter()
                .map(|&(t, p, d, e)| (t, p, is_async, d, e))
                .collect();
            assert_eq!(got, want, "{slug}");
        }
    }
}

#[test]
fn service_lifecycle() {
    for db in ready_db() {
        let out = ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                "My service",
                "--slug",
                "my_service",
                "--class",
                "exec",
                "--setting",
                "command=python3 my.py",
                "--setting",
                "max_concurrency=4",
                "--max-queue-size",
                "20",
                "--description",
                "test",
                "--event",
                "GiftEvent:10:sync:keep",
                "--event",
                "CommentEvent:5:async:discard",
            ],
        );
        assert!(out.contains("Created service my_service"), "{out}");

        let list = json(&db, &["service", "list", "--json"]);
        let slugs: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["dinochrome", "overlays", "my_service"]);
        assert!(ok(&db, &["service", "list"]).contains("my_service"));

        let shown = json(&db, &["service", "show", "my_service", "--json"]);
        assert_eq!(shown["service_class"], "exec");
        assert_eq!(shown["max_queue_size"], 20);
        assert_eq!(shown["settings_json"]["command"], "python3 my.py");
        assert_eq!(shown["settings_json"]["max_concurrency"], 4);
        assert_eq!(shown["event_configs"][0]["event_type"], "GiftEvent");
        assert_eq!(shown["event_configs"][1]["is_async"], true);
        assert_eq!(shown["queue"]["pending"], 0);
        let text = ok(&db, &["service", "show", "my_service"]);
        assert!(
            text.contains("GiftEvent") && text.contains("python3 my.py"),
            "{text}"
        );

        assert!(ok(&db, &["service", "disable", "my_service"]).contains("disabled"));
        assert!(ok(&db, &["service", "disable", "my_service"]).contains("already disabled"));
        let mut conn = db.conn();
        assert!(!services::find(&mut conn, "my_service").unwrap().is_active);
        assert!(ok(&db, &["service", "enable", "my_service"]).contains("enabled"));
        assert!(services::find(&mut conn, "my_service").unwrap().is_active);

        ok(
            &db,
            &[
                "service",
                "set",
                "my_service",
                "--name",
                "Renamed",
                "--max-queue-size",
                "7",
                "--setting",
                "max_concurrency=",
                "--setting",
                "timeout_ms=500",
            ],
        );
        let s = services::find(&mut conn, "my_service").unwrap();
        assert_eq!((s.name.as_str(), s.max_queue_size), ("Renamed", 7));
        let settings = s.settings_map();
        assert!(!settings.contains_key("max_concurrency"));
        assert_eq!(settings["timeout_ms"], 500);
        assert_eq!(settings["command"], "python3 my.py");

        ok(
            &db,
            &[
                "service",
                "set",
                "my_service",
                "--class",
                "webhook",
                "--setting",
                "url=http://127.0.0.1:9/hook",
                "--description",
                "now a webhook",
            ],
        );
        let s = services::find(&mut conn, "my_service").unwrap();
        assert_eq!(s.service_class, "webhook");
        assert_eq!(s.description, "now a webhook");

        let out = ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                "Idle",
                "--slug",
                "idle",
                "--inactive",
            ],
        );
        assert!(out.contains("Created service idle"), "{out}");
        assert!(!services::find(&mut conn, "idle").unwrap().is_active);
        let shown = json(&db, &["service", "show", "idle", "--json"]);
        assert_eq!(shown["is_active"], false);
        assert_eq!(shown["service_class"], "dummy");

        let out = ok(&db, &["service", "remove", "my_service"]);
        assert!(
            out.contains("Removed service my_service with 2 event config(s)"),
            "{out}"
        );
        assert!(services::find_opt(&mut conn, "my_service")
            .unwrap()
            .is_none());
    }
}

#[test]
fn event_config_commands() {
    for db in ready_db() {
        let out = ok(
            &db,
            &["event-config", "set", "overlays", "ViewerCountEvent"],
        );
        assert!(
            out.starts_with(
                "Created overlays ViewerCountEvent: priority 5, sync, discardable, enabled"
            ),
            "{out}"
        );
        let cfg = json(
            &db,
            &[
                "event-config",
                "set",
                "overlays",
                "ViewerCountEvent",
                "--priority",
                "9",
                "--async",
                "--keep",
                "--disable",
                "--json",
            ],
        );
        assert_eq!(cfg["priority"], 9);
        assert_eq!(cfg["is_async"], true);
        assert_eq!(cfg["is_discardable"], false);
        assert_eq!(cfg["is_enabled"], false);
        let list = json(&db, &["event-config", "list", "overlays", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 8);
        assert_eq!(list[0]["event_type"], "GiftEvent");
        assert!(ok(&db, &["event-config", "list", "overlays"]).contains("ViewerCountEvent"));
        let cfg = json(
            &db,
            &[
                "event-config",
                "set",
                "overlays",
                "ViewerCountEvent",
                "--sync",
                "--discardable",
                "--enable",
                "--json",
            ],
        );
        assert_eq!(cfg["priority"], 9, "unchanged when not given");
        assert_eq!(cfg["is_async"], false);
        assert_eq!(cfg["is_discardable"], true);
        assert_eq!(cfg["is_enabled"], true);
        ok(
            &db,
            &["event-config", "remove", "overlays", "ViewerCountEvent"],
        );
        let list = json(&db, &["event-config", "list", "overlays", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 7);
    }
}

/// The event types added since the seed are accepted wherever an event type is named; the
/// seed's own data stays the seven interactive types.
#[test]
fn the_newer_event_types_are_accepted_like_the_seeds() {
    for db in ready_db() {
        for t in [
            "CommentDeletedEvent",
            "EnvelopeEvent",
            "PollEvent",
            "QuestionEvent",
            "RoomPinEvent",
            "BattleEvent",
            "BattleScoreEvent",
            "GoalEvent",
        ] {
            let out = ok(&db, &["event-config", "set", "overlays", t, "--keep"]);
            assert!(out.starts_with(&format!("Created overlays {t}:")), "{out}");
        }
        let list = json(&db, &["event-config", "list", "overlays", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 15);
        let out = ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                "Battles",
                "--slug",
                "battles",
                "--class",
                "dummy",
                "--event",
                "BattleEvent:9:sync:keep",
                "--event",
                "battle_score:3:async:discard",
            ],
        );
        assert!(out.contains("Created service battles"), "{out}");
        let shown = json(&db, &["service", "show", "battles", "--json"]);
        let types: Vec<&str> = shown["event_configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["BattleEvent", "BattleScoreEvent"]);
    }
}

#[test]
fn config_queue_and_session_commands() {
    for db in ready_db() {
        assert_eq!(ok(&db, &["config", "get", "tiktok_user"]), "\n");
        ok(&db, &["config", "set", "tiktok_user", "streamer_x"]);
        assert_eq!(
            ok(&db, &["config", "get", "tiktok_user"]).trim(),
            "streamer_x"
        );
        let all = json(&db, &["config", "list", "--json"]);
        assert_eq!(all, serde_json::json!({"tiktok_user": "streamer_x"}));

        let stats = json(&db, &["queue", "stats", "--json"]);
        assert_eq!(stats.as_array().unwrap().len(), 2);
        assert_eq!(stats[0]["slug"], "dinochrome");
        assert_eq!(stats[0]["pending"], 0);
        let one = json(&db, &["queue", "stats", "overlays", "--json"]);
        assert_eq!(one.as_array().unwrap().len(), 1);
        assert!(ok(&db, &["queue", "stats"]).contains("DISCARDED"));
        let items = json(
            &db,
            &[
                "queue",
                "list",
                "dinochrome",
                "--status",
                "pending",
                "--json",
            ],
        );
        assert_eq!(items, serde_json::json!([]));

        // Real rows: a comment and two gifts go to both seeded services.
        let mut conn = db.conn();
        let ctx_session = sessions::start(&mut conn, None, "7001", "streamer_x").unwrap();
        let events: Vec<core_models::CapturedEvent> =
            [EventType::Comment, EventType::Gift, EventType::Gift]
                .iter()
                .enumerate()
                .map(|(i, &event_type)| core_models::CapturedEvent {
                    event_type,
                    msg_id: Some(i as i64 + 1),
                    timestamp: chrono::Utc::now(),
                    user_id: None,
                    user_unique_id: None,
                    user_nickname: Some(format!("user {i}")),
                    streak: None,
                    data: serde_json::json!({}),
                    received_at: None,
                })
                .collect();
        Engine::new(&mut conn)
            .dispatch(&Batch {
                session: SessionRef::of(&ctx_session),
                events,
            })
            .unwrap();
        let items = json(&db, &["queue", "list", "overlays", "--json"]);
        let types: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["GiftEvent", "GiftEvent", "CommentEvent"],
            "claim order"
        );
        assert_eq!(items[0]["status"], "pending");
        let two = json(
            &db,
            &["queue", "list", "overlays", "--limit", "2", "--json"],
        );
        assert_eq!(two.as_array().unwrap().len(), 2);
        let text = ok(&db, &["queue", "list", "overlays", "--limit", "1"]);
        assert!(
            text.contains("GiftEvent") && !text.contains("CommentEvent"),
            "{text}"
        );
        let stats = json(&db, &["queue", "stats", "overlays", "--json"]);
        assert_eq!(stats[0]["pending"], 3);

        let s = sessions::start(&mut conn, Some("evening 🌙"), "7123", "streamer_x").unwrap();
        let list = json(&db, &["session", "list", "--json"]);
        assert_eq!(list[0]["id"], s.id);
        assert_eq!(list[0]["status"], "active");
        assert_eq!(list[0]["name"], "evening 🌙");
        let shown = json(&db, &["session", "show", &s.id.to_string(), "--json"]);
        assert_eq!(shown["room_id"], "7123");
        assert!(ok(&db, &["session", "show", &s.id.to_string()]).contains("streamer_x"));
    }
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["event-config", "set", "overlays", "NopeEvent"],
            "unknown event type 'NopeEvent'",
        ),
        (
            &[
                "event-config",
                "set",
                "overlays",
                "GiftEvent",
                "--priority",
                "0",
            ],
            "priority 0 is out of range",
        ),
        (
            &[
                "event-config",
                "set",
                "overlays",
                "GiftEvent",
                "--priority",
                "11",
            ],
            "priority 11 is out of range",
        ),
        (
            &[
                "event-config",
                "set",
                "overlays",
                "GiftEvent",
                "--priority",
                "-1",
            ],
            "priority -1 is out of range",
        ),
        (
            &["service", "add", "--name", "X", "--slug", "dinochrome"],
            "slug 'dinochrome' already exists",
        ),
        (
            &["service", "add", "--name", "X", "--slug", "Bad Slug"],
            "invalid slug 'Bad Slug'",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "X",
                "--slug",
                "x",
                "--max-queue-size",
                "0",
            ],
            "max queue size 0 is invalid",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "X",
                "--slug",
                "x",
                "--class",
                "python.Thing",
            ],
            "unknown service class 'python.Thing'",
        ),
        (
            &[
                "service", "add", "--name", "X", "--slug", "x", "--class", "exec",
            ],
            "needs the setting 'command'",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "X",
                "--slug",
                "x",
                "--event",
                "GiftEvent:99:sync:keep",
            ],
            "priority 99 is out of range",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "X",
                "--slug",
                "x",
                "--event",
                "GiftEvent:1:sync:keep",
                "--event",
                "GiftEvent:2:sync:keep",
            ],
            "GiftEvent is given twice",
        ),
        (&["service", "show", "nope"], "unknown service 'nope'"),
        (&["service", "enable", "nope"], "unknown service 'nope'"),
        (&["service", "remove", "nope"], "unknown service 'nope'"),
        (
            &["service", "set", "nope", "--name", "x"],
            "unknown service 'nope'",
        ),
        (&["service", "set", "overlays"], "nothing to change"),
        (
            &["service", "set", "overlays", "--max-queue-size", "-3"],
            "max queue size",
        ),
        (
            &["service", "set", "overlays", "--class", "exec"],
            "needs the setting 'command'",
        ),
        (
            &["event-config", "set", "nope", "GiftEvent"],
            "unknown service 'nope'",
        ),
        (&["event-config", "list", "nope"], "unknown service 'nope'"),
        (
            &["event-config", "remove", "dinochrome", "ViewerCountEvent"],
            "has no config for ViewerCountEvent",
        ),
        (&["config", "get", "nope"], "config key 'nope' is not set"),
        (&["queue", "stats", "nope"], "unknown service 'nope'"),
        (
            &["queue", "list", "dinochrome", "--status", "weird"],
            "unknown queue status 'weird'",
        ),
        (&["session", "show", "999"], "unknown session 999"),
        (
            &["queue", "prune", "--older-than", "7x"],
            "'7x' is not a duration",
        ),
        (
            &["queue", "prune", "--older-than", "d"],
            "'d' is not a duration",
        ),
        (
            &["queue", "prune", "--older-than", "7d", "--batch-size", "0"],
            "--batch-size",
        ),
        (&["service", "add", "--slug", "x"], "--name <NAME>"),
        (&["service", "disable", "nope"], "unknown service 'nope'"),
        (
            &["event-config", "remove", "nope", "GiftEvent"],
            "unknown service 'nope'",
        ),
        (&["queue", "list", "nope"], "unknown service 'nope'"),
        (
            &[
                "service",
                "set",
                "dinochrome",
                "--setting",
                "no_page=complete",
            ],
            "setting 'no_page' must be one of: wait, fail",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "Hook",
                "--slug",
                "hook",
                "--class",
                "webhook",
                "--setting",
                "url=ftp://example.com/x",
            ],
            "setting 'url' must be an http:// or https:// URL",
        ),
        (
            &[
                "service",
                "add",
                "--name",
                "Scoped",
                "--slug",
                "scoped",
                "--streamer",
                "not a handle",
            ],
            "invalid TikTok username 'not a handle'",
        ),
        (
            &[
                "service",
                "set",
                "dinochrome",
                "--streamer",
                "alice",
                "--all-streamers",
            ],
            "cannot be used with '--all-streamers'",
        ),
    ];
    for db in ready_db() {
        let before = snapshot(&db);
        for (args, needle) in cases {
            let r = ctl(&db, args);
            assert_eq!(r.code, 2, "ctl {args:?}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(needle),
                "ctl {args:?}: expected {needle:?} in {:?}",
                r.stderr
            );
            assert_eq!(
                r.stderr.trim_end().lines().count(),
                1,
                "ctl {args:?}: {:?}",
                r.stderr
            );
            assert!(r.stderr.starts_with("error: "), "{:?}", r.stderr);
        }
        assert_eq!(
            before,
            snapshot(&db),
            "a rejected command wrote to the database"
        );
    }
}

#[test]
fn without_a_url_the_database_is_an_embedded_sqlite_file_under_data() {
    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .arg("migrate")
        .output()
        .expect("run ctl");
    assert!(out.status.success(), "{out:?}");
    let file = dir.path().join(core_models::db::DEFAULT_SQLITE_PATH);
    assert!(file.is_file(), "{} was not created", file.display());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("data/tiklive.sqlite3"),
        "{out:?}"
    );

    let url = core_models::DbUrl::resolve(Some(&file.display().to_string())).unwrap();
    let mut conn = DbConn::establish(&url).unwrap();
    let pragma = |conn: &mut DbConn, name: &str, column: &str| -> String {
        let q = format!("SELECT CAST({column} AS TEXT) AS v FROM pragma_{name}");
        core_models::with_conn!(conn, |c| diesel::sql_query(&q)
            .get_result::<Pragma>(c)
            .unwrap()
            .v)
    };
    assert_eq!(pragma(&mut conn, "journal_mode", "journal_mode"), "wal");
    assert_eq!(pragma(&mut conn, "foreign_keys", "foreign_keys"), "1");
    assert_eq!(pragma(&mut conn, "busy_timeout", "timeout"), "15000");
}

#[test]
fn a_reader_that_goes_away_ends_ctl_quietly() {
    // `ctl service show dinochrome | head -1`: the pipe closes before ctl writes.
    for db in ready_db() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctl"))
            .args(["service", "show", "dinochrome"])
            .env("DATABASE_URL", db.url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run ctl");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "no panic, no noise"
        );
    }
}

#[test]
fn unreachable_database_is_one_line_with_the_password_masked() {
    let r = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args([
            "--database-url",
            "mysql://app:hunter2@127.0.0.1:1/tiklive",
            "service",
            "list",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stderr.contains("mysql://app:****@127.0.0.1:1/tiklive"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn help_explains_every_command_with_an_example() {
    let db = TestDb::sqlite();
    for cmd in [
        &["migrate"][..],
        &["populate-initial-data"],
        &["service", "add"],
        &["service", "list"],
        &["service", "show"],
        &["service", "enable"],
        &["service", "disable"],
        &["service", "remove"],
        &["service", "set"],
        &["event-config", "set"],
        &["event-config", "list"],
        &["event-config", "remove"],
        &["config", "get"],
        &["config", "set"],
        &["config", "list"],
        &["queue", "stats"],
        &["queue", "list"],
        &["queue", "prune"],
        &["session", "list"],
        &["session", "show"],
        &["session", "report"],
        &["service", "pause"],
        &["service", "resume"],
        &["queue", "clear"],
        &["queue", "retry"],
        &["queue", "skip"],
        &["event", "send"],
        &["event", "list"],
        &["demo"],
        &["bench"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = ok(&db, &args);
        assert!(
            out.contains("Example: ctl "),
            "ctl {cmd:?} --help has no example:\n{out}"
        );
    }
}

#[test]
fn text_survives_the_round_trip() {
    let tricky = "👩‍👩‍👧 Gift 🎁 مرحبا بكم ‏שלום‎ 你好 a\u{200d}b e\u{301}";
    for db in ready_db() {
        // argv cannot carry NUL (the OS refuses it); NUL removal is covered on the event path.
        let name = format!("{tricky}\u{1}\u{7}");
        let description = format!("{}\u{1b}end", "🌈".repeat(2500)); // 10 KB of 4-byte chars
        ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                &name,
                "--slug",
                "text_test",
                "--description",
                &description,
                "--setting",
                &format!("greeting={tricky}"),
            ],
        );
        let mut conn = db.conn();
        let s = services::find(&mut conn, "text_test").unwrap();
        assert_eq!(s.name, tricky, "SOH and BEL removed, the rest kept");
        assert_eq!(s.description, format!("{}end", "🌈".repeat(2500)));
        assert_eq!(s.settings_map()["greeting"], tricky);
        let shown = json(&db, &["service", "show", "text_test", "--json"]);
        assert_eq!(shown["name"], tricky);
    }
}

#[test]
fn live_event_text_columns_keep_every_character() {
    use core_models::schema::live_events as le;
    let comment = format!("{} 👩‍👩‍👧 مرحبا", "💬".repeat(2500)); // over 10 KB
    for db in ready_db() {
        let mut conn: DbConn = db.conn();
        let s = sessions::start(&mut conn, None, "1", "x").unwrap();
        // Through the product's path (what the capture daemon stores), NUL and control
        // characters included.
        let event = core_models::CapturedEvent {
            event_type: EventType::Comment,
            msg_id: Some(42),
            timestamp: chrono::Utc::now(),
            user_id: Some("7\0".into()),
            user_unique_id: Some("u\0ser".into()),
            user_nickname: Some("ن\u{200f}ick 🎁\0\u{7}".into()),
            streak: None,
            data: serde_json::json!({"comment": format!("{comment}\0\u{8}")}),
            received_at: None,
        };
        Engine::new(&mut conn)
            .dispatch(&Batch {
                session: SessionRef::of(&s),
                events: vec![event],
            })
            .unwrap();
        let (back_nick, back_handle, back_data, back_type): (
            Option<String>,
            Option<String>,
            String,
            EventType,
        ) = core_models::with_conn!(&mut conn, |c| le::table
            .select((
                le::user_nickname,
                le::user_unique_id,
                le::event_data,
                le::event_type,
            ))
            .first(c)
            .unwrap());
        assert_eq!(back_nick.as_deref(), Some("ن\u{200f}ick 🎁"));
        assert_eq!(back_handle.as_deref(), Some("user"));
        let back: serde_json::Value = serde_json::from_str(&back_data).unwrap();
        assert_eq!(back["comment"], comment.as_str());
        assert_eq!(back_type, EventType::Comment);
    }
}

#[test]
fn nul_and_control_characters_leave_service_text() {
    // argv cannot carry NUL, so this goes through the library `ctl` calls.
    for db in ready_db() {
        let mut conn = db.conn();
        let added = services::add(
            &mut conn,
            &services::NewService {
                name: "Na\0me 🎁\u{1b}".into(),
                slug: "nul_test".parse().unwrap(),
                kind: core_models::ServiceKind::Dummy,
                description: "line one\nline\0 two\u{7f}".into(),
                is_active: true,
                max_queue_size: core_models::MaxQueueSize::new(10).unwrap(),
                settings: vec![core_models::Setting {
                    key: "greeting".into(),
                    value: Some(serde_json::json!("hi\0 👋")),
                }],
                streamers: Vec::new(),
                routes: Vec::new(),
            },
        )
        .unwrap();
        assert_eq!(added.service.name, "Name 🎁");
        let s = services::find(&mut conn, "nul_test").unwrap();
        assert_eq!(s.name, "Name 🎁");
        assert!(!s.description.contains('\0'), "{:?}", s.description);
        assert!(s.description.contains("line") && s.description.contains("two"));
        assert_eq!(s.settings_map()["greeting"], "hi 👋");
    }
}

#[test]
fn an_unknown_string_in_the_database_is_an_error_not_a_panic() {
    use core_models::schema::event_queue as eq;
    for db in ready_db() {
        let mut conn = db.conn();
        core_models::with_conn!(&mut conn, |c| diesel::sql_query(
            "UPDATE service_event_configs SET event_type = 'WeirdEvent' WHERE priority = 2"
        )
        .execute(c)
        .unwrap());
        let r = ctl(&db, &["event-config", "list", "overlays"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("unknown event type 'WeirdEvent'"),
            "{}",
            r.stderr
        );
        let _ = eq::table; // the queue table is typed the same way
    }
}

#[test]
fn queue_prune_deletes_only_old_finished_items() {
    for db in ready_db() {
        let mut conn = db.conn();
        let s = sessions::start(&mut conn, None, "9", "x").unwrap();
        let events: Vec<core_models::CapturedEvent> = (0..3)
            .map(|i| core_models::CapturedEvent {
                event_type: EventType::Gift,
                msg_id: Some(i),
                timestamp: chrono::Utc::now(),
                user_id: None,
                user_unique_id: None,
                user_nickname: None,
                streak: None,
                data: serde_json::json!({}),
                received_at: None,
            })
            .collect();
        Engine::new(&mut conn)
            .dispatch(&Batch {
                session: SessionRef::of(&s),
                events,
            })
            .unwrap();
        let overlays = services::find(&mut conn, "overlays").unwrap();
        // A worker of daemon t:1:1 claims two items and completes them.
        let mut engine = Engine::new(&mut conn);
        let minute = std::time::Duration::from_secs(60);
        assert!(engine
            .acquire_service(overlays.id, "t:1:1", minute)
            .unwrap());
        let claimed = engine
            .claim(&ClaimParams {
                service_id: overlays.id,
                max: 2,
                service_owner: "t:1:1",
                owner: "t:1:1",
                lease: minute,
                finished: &[],
            })
            .unwrap()
            .items
            .unwrap();
        let done: Vec<(i64, Outcome)> = claimed
            .iter()
            .map(|c| (c.item.id, Outcome::Completed))
            .collect();
        assert_eq!(
            engine.finish("t:1:1", &done).unwrap().completed,
            claimed.len() as u64,
            "every claimed item is completed"
        );

        let out = ok(&db, &["queue", "prune", "--older-than", "1h"]);
        assert!(out.starts_with("Deleted 0 "), "{out}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let out = ok(
            &db,
            &["queue", "prune", "--older-than", "0s", "--batch-size", "1"],
        );
        assert!(out.starts_with("Deleted 2 completed or discarded"), "{out}");
        let stats = json(&db, &["queue", "stats", "overlays", "--json"]);
        assert_eq!(stats[0]["completed"], 0);
        assert_eq!(stats[0]["pending"], 1);
    }
}

#[test]
fn rule_commands_refuse_bad_input_in_one_line_and_write_nothing() {
    for db in ready_db() {
        ok(
            &db,
            &[
                "rule",
                "add",
                "dinochrome",
                "lion",
                "--event",
                "GiftEvent",
                "--gift",
                "Lion",
            ],
        );
        let before = snapshot(&db);
        for (args, says) in [
            (
                &["rule", "add", "nope", "x", "--event", "GiftEvent"][..],
                "unknown service 'nope'",
            ),
            (
                &["rule", "add", "dinochrome", "lion", "--event", "GiftEvent"][..],
                "already has a rule named 'lion'",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "CommentEvent",
                    "--streak",
                    "end",
                ][..],
                "--streak applies to GiftEvent rules only",
            ),
            (
                &[
                    "rule",
                    "set",
                    "dinochrome",
                    "CommentEvent",
                    "--streak",
                    "each",
                ][..],
                "--streak applies to GiftEvent rules only",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "CommentEvent",
                    "--comment-regex",
                    "(unclosed",
                ][..],
                "invalid --comment-regex '(unclosed'",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "GiftEvent",
                    "--cooldown",
                    "0s",
                ][..],
                "invalid duration '0s'",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "GiftEvent",
                    "--user-cooldown",
                    "-5s",
                ][..],
                "invalid duration '-5s'",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "GiftEvent",
                    "--priority",
                    "11",
                ][..],
                "priority 11 is out of range",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "GiftEvent",
                    "--priority",
                    "0",
                ][..],
                "priority 0 is out of range",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "CommentEvent",
                    "--gift",
                    "Rose",
                ][..],
                "--gift applies to GiftEvent rules only",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "x",
                    "--event",
                    "GiftEvent",
                    "--from",
                    "stranger",
                ][..],
                "unknown viewer kind 'stranger'",
            ),
            (
                &["rule", "set", "dinochrome", "nope", "--priority", "3"][..],
                "has no rule named 'nope'",
            ),
            (
                &["rule", "remove", "dinochrome", "nope"][..],
                "has no rule named 'nope'",
            ),
            (
                &[
                    "rule",
                    "add",
                    "dinochrome",
                    "FollowEvent",
                    "--event",
                    "GiftEvent",
                ][..],
                "kept for the FollowEvent config",
            ),
            (
                &[
                    "rule",
                    "set",
                    "dinochrome",
                    "GiftEvent",
                    "--event",
                    "CommentEvent",
                ][..],
                "its event type cannot change",
            ),
        ] {
            let r = ctl(&db, args);
            assert_eq!(r.code, 2, "ctl {args:?}: {}{}", r.stdout, r.stderr);
            assert_eq!(
                r.stderr.trim_end().lines().count(),
                1,
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
            assert_eq!(snapshot(&db), before, "{args:?} wrote something");
        }
    }
}

#[test]
fn rules_are_listed_changed_tested_and_removed_and_configs_are_rules() {
    for db in ready_db() {
        // The seed's configs are the rules named after their type.
        let rules = json(&db, &["rule", "list", "dinochrome", "--json"]);
        let names: Vec<&str> = rules
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names.len(), 7);
        assert!(rules
            .as_array()
            .expect("array")
            .iter()
            .all(|r| r["name"] == r["event_type"] && r["conditions"] == serde_json::json!({})));
        // event-config edits the rule named after the type; service add --event creates one.
        ok(
            &db,
            &[
                "event-config",
                "set",
                "dinochrome",
                "LikeEvent",
                "--priority",
                "2",
            ],
        );
        ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                "S",
                "--slug",
                "s",
                "--class",
                "dummy",
                "--event",
                "GiftEvent:9:sync:keep",
            ],
        );
        let s = json(&db, &["rule", "list", "s", "--json"]);
        assert_eq!(s[0]["name"], "GiftEvent");
        assert_eq!(s[0]["priority"], 9);

        let added = json(
            &db,
            &[
                "rule",
                "add",
                "dinochrome",
                "rose",
                "--event",
                "GiftEvent",
                "--gift",
                "rose",
                "--gift",
                "5655",
                "--min-count",
                "10",
                "--from",
                "follower",
                "--user-cooldown",
                "2m",
                "--streak",
                "end",
                "--action",
                "jump",
                "--priority",
                "10",
                "--keep",
                "--json",
            ],
        );
        assert_eq!(
            added["conditions"],
            serde_json::json!({"gifts": ["rose", "5655"], "min_count": 10, "from": ["follower"]})
        );
        assert_eq!(added["user_cooldown_ms"], 120_000);
        assert_eq!(added["streak_policy"], "end");
        let changed = json(
            &db,
            &[
                "rule",
                "set",
                "dinochrome",
                "rose",
                "--min-count",
                "99",
                "--no-user-cooldown",
                "--cooldown",
                "30s",
                "--json",
            ],
        );
        assert_eq!(changed["conditions"]["min_count"], 99);
        assert_eq!(
            changed["conditions"]["gifts"],
            serde_json::json!(["rose", "5655"])
        );
        assert_eq!(changed["user_cooldown_ms"], serde_json::Value::Null);
        assert_eq!(changed["cooldown_ms"], 30_000);
        let cleared = json(
            &db,
            &[
                "rule",
                "set",
                "dinochrome",
                "rose",
                "--clear-conditions",
                "--json",
            ],
        );
        assert_eq!(cleared["conditions"], serde_json::json!({}));
        ok(
            &db,
            &[
                "rule",
                "set",
                "dinochrome",
                "rose",
                "--gift",
                "Rose",
                "--min-count",
                "99",
            ],
        );

        // rule test: the seed's GiftEvent (priority 10, created first) wins the tie; rose's
        // count does not hold; a comment rule is another type.
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("gift.json");
        std::fs::write(
            &file,
            r#"{"event_type": "GiftEvent", "user_unique_id": "bob",
                "data": {"gift": {"id": 5655, "name": "Rose"}, "streak_total_count": 5}}"#,
        )
        .expect("write");
        let out = ok(
            &db,
            &[
                "rule",
                "test",
                "dinochrome",
                "--event",
                &file.display().to_string(),
            ],
        );
        assert!(
            out.starts_with("GiftEvent: rule GiftEvent fires (priority 10)."),
            "{out}"
        );
        assert!(out.contains("a combo of 5, below --min-count"), "{out}");
        assert!(out.contains("no: a CommentEvent rule"), "{out}");
        ok(
            &db,
            &["rule", "set", "dinochrome", "rose", "--min-count", "5"],
        );
        let verdicts = json(
            &db,
            &[
                "rule",
                "test",
                "dinochrome",
                "--event",
                &file.display().to_string(),
                "--json",
            ],
        );
        assert_eq!(verdicts[0]["rule"], "GiftEvent");
        assert_eq!(verdicts[0]["outcome"], "fires");
        assert_eq!(verdicts[1]["rule"], "rose");
        assert_eq!(verdicts[1]["outcome"], "outranked");
        assert_eq!(verdicts[1]["by"], "GiftEvent");

        ok(&db, &["rule", "remove", "dinochrome", "rose"]);
        let rules = json(&db, &["rule", "list", "dinochrome", "--json"]);
        assert_eq!(rules.as_array().map(Vec::len), Some(7));
    }
}

#[test]
fn services_scoped_to_streamers_show_them_and_go_back_to_everyone() {
    for db in ready_db() {
        ok(
            &db,
            &[
                "service",
                "add",
                "--name",
                "Alice's dino",
                "--slug",
                "alice_dino",
                "--streamer",
                "@Alice",
                "--streamer",
                "https://www.tiktok.com/@bob/live",
                "--event",
                "GiftEvent:10:sync:keep",
            ],
        );
        let shown = json(&db, &["service", "show", "alice_dino", "--json"]);
        assert_eq!(shown["streamers"], serde_json::json!(["alice", "bob"]));
        let listed = json(&db, &["service", "list", "--json"]);
        let by_slug = |slug: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["slug"] == slug)
                .unwrap()["streamers"]
                .clone()
        };
        assert_eq!(by_slug("alice_dino"), serde_json::json!(["alice", "bob"]));
        assert_eq!(
            by_slug("dinochrome"),
            serde_json::json!([]),
            "unscoped: every streamer"
        );
        assert!(ok(&db, &["service", "list"]).contains("@alice @bob"));

        ok(
            &db,
            &["service", "set", "alice_dino", "--streamer", "carol"],
        );
        let shown = json(&db, &["service", "show", "alice_dino", "--json"]);
        assert_eq!(shown["streamers"], serde_json::json!(["carol"]));
        let out = ok(&db, &["service", "set", "alice_dino", "--all-streamers"]);
        assert!(out.contains("streamers all"), "{out}");
        let shown = json(&db, &["service", "show", "alice_dino", "--json"]);
        assert_eq!(shown["streamers"], serde_json::json!([]));
    }
}

#[test]
fn pause_resume_clear_retry_skip_test_events_and_reports() {
    for db in ready_db() {
        // A paused service keeps its flag (JSON `paused`) until resumed.
        let out = ok(&db, &["service", "pause", "dinochrome"]);
        assert!(out.contains("Service dinochrome paused"), "{out}");
        assert!(ok(&db, &["service", "pause", "dinochrome"]).contains("already paused"));
        let shown = json(&db, &["service", "show", "dinochrome", "--json"]);
        assert_eq!(shown["paused"], true);
        let listed = json(&db, &["service", "list", "--json"]);
        assert_eq!(listed[1]["paused"], false);

        // Test events need a streamer.
        let r = ctl(
            &db,
            &["event", "send", "--type", "GiftEvent", "--gift", "Rose"],
        );
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("tiktok_user setting is empty"),
            "{}",
            r.stderr
        );
        ok(&db, &["config", "set", "tiktok_user", "some_streamer"]);
        let sent = json(
            &db,
            &[
                "event",
                "send",
                "--type",
                "GiftEvent",
                "--user",
                "alice",
                "--gift",
                "Rose",
                "--count",
                "5",
                "--json",
            ],
        );
        let session = sent["session_id"].as_i64().expect("session");
        let out = ok(
            &db,
            &[
                "event",
                "send",
                "--type",
                "CommentEvent",
                "--user",
                "bob",
                "--comment",
                "hi, all",
            ],
        );
        assert!(out.contains(&format!("test session {session}")), "{out}");
        assert!(out.contains("queued for dinochrome, overlays"), "{out}");
        let r = ctl(&db, &["event", "send", "--type", "CommentEvent"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("--comment"), "{}", r.stderr);

        // The paused dinochrome got both; nothing claims them. Clear, fail, retry, skip.
        let pending = json(
            &db,
            &[
                "queue",
                "list",
                "dinochrome",
                "--status",
                "pending",
                "--json",
            ],
        );
        assert_eq!(pending.as_array().map(Vec::len), Some(2));
        let mut conn = db.conn();
        let id = services::find(&mut conn, "dinochrome").unwrap().id;
        let mut engine = Engine::new(&mut conn);
        assert!(engine
            .acquire_service(id, "t", std::time::Duration::from_secs(60))
            .unwrap());
        let claimed = engine
            .claim(&ClaimParams {
                service_id: id,
                max: 2,
                service_owner: "t",
                owner: "t",
                lease: std::time::Duration::from_secs(60),
                finished: &[],
            })
            .unwrap()
            .items
            .unwrap();
        let (a, b) = (claimed[0].item.id, claimed[1].item.id);
        engine
            .finish("t", &[(a, Outcome::Failed("boom".into()))])
            .unwrap();
        let out = ok(&db, &["queue", "skip", "dinochrome", &b.to_string()]);
        assert!(out.contains(&format!("Skipped item {b}")), "{out}");
        let r = ctl(&db, &["queue", "skip", "dinochrome", &b.to_string()]);
        assert_eq!(r.code, 2, "a skipped item is no longer running");
        let skipped = json(
            &db,
            &[
                "queue",
                "list",
                "dinochrome",
                "--reason",
                "skipped",
                "--json",
            ],
        );
        assert_eq!(skipped[0]["id"], b);
        assert_eq!(skipped[0]["status"], "failed");
        let out = ok(
            &db,
            &["queue", "retry", "dinochrome", "--id", &a.to_string()],
        );
        assert!(
            out.contains("1 failed item(s) of dinochrome back in the queue"),
            "{out}"
        );
        let item = json(
            &db,
            &[
                "queue",
                "list",
                "dinochrome",
                "--status",
                "pending",
                "--json",
            ],
        );
        assert_eq!(item[0]["attempts"], 1, "attempts kept");
        let out = ok(&db, &["queue", "clear", "dinochrome"]);
        assert!(out.contains("Cleared 1 pending item(s)"), "{out}");
        let cleared = json(
            &db,
            &[
                "queue",
                "list",
                "dinochrome",
                "--reason",
                "cleared",
                "--json",
            ],
        );
        assert_eq!(cleared[0]["id"], a);
        let r = ctl(&db, &["queue", "retry", "nope"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("unknown service 'nope'"));
        assert!(ok(&db, &["service", "resume", "dinochrome"]).contains("resumed"));
        assert_eq!(
            json(&db, &["service", "show", "dinochrome", "--json"])["paused"],
            false
        );

        // Sessions: the test session is marked, left out of the totals unless asked.
        let out = ok(&db, &["session", "list"]);
        assert!(out.contains("active (test)"), "{out}");
        assert!(out.contains("Total: 0 session(s), 0 event(s)"), "{out}");
        let out = ok(&db, &["session", "list", "--include-tests"]);
        assert!(out.contains("Total: 1 session(s), 2 event(s)"), "{out}");
        assert_eq!(
            json(&db, &["session", "list", "--json"])[0]["is_test"],
            true
        );
        let report = json(&db, &["session", "report", &session.to_string(), "--json"]);
        assert_eq!(report["gifts"]["count"], 5);
        assert_eq!(report["gifts"]["diamonds"], 5);
        assert_eq!(report["top_gifters"][0]["unique_id"], "alice");
        assert_eq!(report["top_commenters"][0]["comments"], 1);
        assert_eq!(report["events_by_type"]["CommentEvent"], 1);
        let out = ok(&db, &["session", "report", &session.to_string()]);
        assert!(out.contains("gifts:     5 (5 diamonds"), "{out}");
        assert!(out.contains("@alice"), "{out}");
        let r = ctl(&db, &["session", "report", "9999"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("unknown session 9999"));

        // The events browser and its CSV export.
        let found = json(&db, &["event", "list", "--user", "@bob", "--json"]);
        assert_eq!(found.as_array().map(Vec::len), Some(1));
        let csv = ok(
            &db,
            &["event", "list", "--session", &session.to_string(), "--csv"],
        );
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.contains("\"\"comment\"\":\"\"hi, all\"\""), "{csv}");
        let r = ctl(&db, &["event", "list", "--limit", "0"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("limit 0 is out of range"), "{}", r.stderr);
    }
}
