//! Trigger rules end to end, as processes: rules set with `ctl rule`, a `capture-daemon`
//! process capturing the simulator over the real Webcast protocol, and the queue read back
//! with `ctl queue list --json`: which events got items, under which rule and priority, which
//! were dropped for cooldown, and what a gift combo with `--streak end` becomes. On SQLite,
//! and on MariaDB/MySQL when TEST_MYSQL_URL is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use core_models::schema::live_events as le;
use core_models::{with_conn, StreakStatus};
use diesel::prelude::*;
use serde_json::Value;
use test_support::TestDb;
use webcast_sim::{Scenario, Simulator, SimulatorConfig, Step};

/// The capture daemon next to `ctl` (built by `cargo test --workspace`).
fn capture_binary() -> Option<PathBuf> {
    test_support::binaries::sibling(Path::new(env!("CARGO_BIN_EXE_ctl")), "capture-daemon")
}

fn ctl(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run ctl");
    assert!(
        out.status.success(),
        "ctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gift(user: &str, gift: &str, count: i32, lose_end: bool) -> Step {
    Step::Gift {
        user: user.into(),
        gift: gift.into(),
        count,
        interval_ms: 0,
        lose_end,
    }
}

fn comment(user: &str, text: &str) -> Step {
    Step::Comment {
        user: user.into(),
        text: text.into(),
    }
}

/// The rules of the examples, on the seed's DinoChrome.
fn set_rules(db: &TestDb) {
    ctl(db, &["migrate"]);
    ctl(db, &["populate-initial-data"]);
    // Only DinoChrome: the Overlays' rows would only add noise.
    ctl(db, &["service", "disable", "overlays"]);
    // The seed's gift rule: below the gift rules, and only combo ends.
    ctl(
        db,
        &[
            "rule",
            "set",
            "dinochrome",
            "GiftEvent",
            "--priority",
            "4",
            "--streak",
            "end",
        ],
    );
    ctl(
        db,
        &[
            "rule",
            "add",
            "dinochrome",
            "rose",
            "--event",
            "GiftEvent",
            "--gift",
            "Rose",
            "--priority",
            "8",
            "--keep",
            "--streak",
            "end",
            "--action",
            "jump",
        ],
    );
    ctl(
        db,
        &[
            "rule",
            "add",
            "dinochrome",
            "big",
            "--event",
            "GiftEvent",
            "--min-diamonds",
            "100",
            "--priority",
            "9",
            "--keep",
            "--action",
            "boost",
        ],
    );
    // Comments: "!jump" at most once a minute per viewer; moderators duck; the rest nothing.
    ctl(
        db,
        &[
            "rule",
            "add",
            "dinochrome",
            "chat-jump",
            "--event",
            "CommentEvent",
            "--comment-prefix",
            "!jump",
            "--priority",
            "7",
            "--user-cooldown",
            "1m",
            "--action",
            "jump",
        ],
    );
    ctl(
        db,
        &[
            "rule",
            "add",
            "dinochrome",
            "mods",
            "--event",
            "CommentEvent",
            "--from",
            "moderator",
            "--priority",
            "6",
            "--action",
            "duck",
        ],
    );
    ctl(
        db,
        &["rule", "set", "dinochrome", "CommentEvent", "--disabled"],
    );
    // Likes: one item an hour, whoever likes.
    ctl(
        db,
        &["rule", "set", "dinochrome", "LikeEvent", "--cooldown", "1h"],
    );
}

fn scenario() -> Scenario {
    let like = |user: &str| Step::Like {
        user: user.into(),
        count: 15,
    };
    Scenario {
        steps: vec![
            gift("bob", "Rose", 5, false),
            gift("carol", "Rose", 3, true),
            gift("frank", "Galaxy", 1, false),
            gift("gina", "Finger Heart", 2, false),
            comment("alice", "!JUMP now"),
            comment("alice", "!jump again"),
            comment("mod_max", "!jump"),
            comment("mod_max", "hello"),
            comment("dave", "hello"),
            like("carol"),
            like("erin"),
            Step::End,
        ],
    }
}

/// `ctl queue list dinochrome --json`, oldest first.
fn queue(db: &TestDb) -> Vec<Value> {
    let text = ctl(
        db,
        &["queue", "list", "dinochrome", "--json", "--limit", "1000"],
    );
    let mut rows: Vec<Value> = serde_json::from_str(&text).expect("queue JSON");
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

/// (event type, user, rule, priority, status, reason) of a queue row.
fn summary(r: &Value) -> (String, String, String, i64, String, Option<String>) {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
    (
        s("event_type"),
        s("user_unique_id"),
        s("rule"),
        r["priority"].as_i64().unwrap_or(0),
        s("status"),
        r["reason"].as_str().map(str::to_owned),
    )
}

/// A `capture-daemon` process on a simulator of its own (room `run` rooms after the
/// default's: the simulator numbers its messages the same way each time).
struct Capture {
    sim: webcast_sim::SimulatorHandle,
    child: std::process::Child,
    _spool: tempfile::TempDir,
}

impl Capture {
    fn start(rt: &tokio::runtime::Runtime, capture: &PathBuf, db: &TestDb, run: i64) -> Capture {
        let config = SimulatorConfig::default();
        let sim = rt
            .block_on(Simulator::start(SimulatorConfig {
                room_id: config.room_id + run,
                ..config
            }))
            .expect("simulator");
        let spool = tempfile::tempdir().expect("spool dir");
        let child = Command::new(capture)
            .args([
                "--database-url",
                db.url(),
                "--username",
                sim.username(),
                "--room-id",
                &sim.room_id().to_string(),
                "--sign-server-url",
                sim.base_url().as_str(),
                "--spool-dir",
                &spool.path().display().to_string(),
            ])
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn capture-daemon");
        Capture {
            sim,
            child,
            _spool: spool,
        }
    }

    /// Waits for the daemon to end with the stream (the scenario's `End`).
    fn wait(mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("capture-daemon did not end with the stream");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "capture-daemon: {status:?}");
    }
}

/// Captures the simulator playing `scenario` until the stream ends.
fn run_capture(
    rt: &tokio::runtime::Runtime,
    capture: &PathBuf,
    db: &TestDb,
    run: i64,
    scenario: Scenario,
) {
    let c = Capture::start(rt, capture, db, run);
    c.sim.play(scenario);
    c.wait();
}

#[test]
fn rules_decide_items_priorities_cooldowns_and_combo_ends() {
    let Some(capture) = capture_binary() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for db in TestDb::all() {
        set_rules(&db);
        run_capture(&rt, &capture, &db, 0, scenario());

        let rows = queue(&db);
        let got: Vec<_> = rows.iter().map(summary).collect();
        let row = |ty: &str, user: &str, rule: &str, p: i64, status: &str, reason: Option<&str>| {
            (
                ty.to_owned(),
                user.to_owned(),
                rule.to_owned(),
                p,
                status.to_owned(),
                reason.map(str::to_owned),
            )
        };
        assert_eq!(
            got,
            vec![
                // bob's 5-Rose combo: one item, at its end, under `rose`.
                row("GiftEvent", "bob", "rose", 8, "pending", None),
                // A Galaxy (1,000 diamonds, not streakable: its own end).
                row("GiftEvent", "frank", "big", 9, "pending", None),
                // A Finger Heart combo: the seed's rule, at its end only.
                row("GiftEvent", "gina", "GiftEvent", 4, "pending", None),
                row("CommentEvent", "alice", "chat-jump", 7, "pending", None),
                // alice again within her minute: dropped, visibly.
                row(
                    "CommentEvent",
                    "alice",
                    "chat-jump",
                    7,
                    "discarded",
                    Some("cooldown")
                ),
                // mod_max's !jump: chat-jump outranks mods.
                row("CommentEvent", "mod_max", "chat-jump", 7, "pending", None),
                row("CommentEvent", "mod_max", "mods", 6, "pending", None),
                // dave's comment: no enabled rule takes it, no row.
                row("LikeEvent", "carol", "LikeEvent", 3, "pending", None),
                row(
                    "LikeEvent",
                    "erin",
                    "LikeEvent",
                    3,
                    "discarded",
                    Some("cooldown")
                ),
                // carol's combo lost its end: one item, at the end the capture made up when
                // the stream ended.
                row("GiftEvent", "carol", "rose", 8, "pending", None),
            ],
            "{}: {rows:#?}",
            db.url()
        );

        // The combo ends carry the real totals.
        let mut conn = db.conn();
        let ids: Vec<i64> = rows
            .iter()
            .filter(|r| r["rule"] == "rose")
            .filter_map(|r| r["live_event_id"].as_i64())
            .collect();
        let ends: Vec<(Option<StreakStatus>, String)> = with_conn!(&mut conn, |c| le::table
            .filter(le::id.eq_any(&ids))
            .order(le::id.asc())
            .select((le::streak_status, le::event_data))
            .load(c))
        .expect("events");
        let totals: Vec<(Option<StreakStatus>, i64)> = ends
            .iter()
            .map(|(s, data)| {
                let v: Value = serde_json::from_str(data).expect("event_data");
                (*s, v["streak_total_count"].as_i64().unwrap_or(-1))
            })
            .collect();
        assert_eq!(
            totals,
            vec![(Some(StreakStatus::End), 5), (Some(StreakStatus::End), 3)]
        );

        // A new capture (a restart, or another daemon on the same database): the database
        // holds the cooldowns, so alice is still cooling down; a fresh viewer is not.
        run_capture(
            &rt,
            &capture,
            &db,
            1,
            Scenario {
                steps: vec![
                    comment("alice", "!jump"),
                    comment("zoe", "!jump"),
                    Step::End,
                ],
            },
        );
        let rows = queue(&db);
        let got: Vec<_> = rows[rows.len() - 2..].iter().map(summary).collect();
        assert_eq!(
            got,
            vec![
                row(
                    "CommentEvent",
                    "alice",
                    "chat-jump",
                    7,
                    "discarded",
                    Some("cooldown")
                ),
                row("CommentEvent", "zoe", "chat-jump", 7, "pending", None),
            ]
        );
    }
}

#[test]
fn a_rule_added_while_the_capture_runs_takes_effect_without_a_restart() {
    let Some(capture) = capture_binary() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for db in TestDb::all() {
        ctl(&db, &["migrate"]);
        ctl(&db, &["populate-initial-data"]);
        ctl(&db, &["service", "disable", "overlays"]);
        let c = Capture::start(&rt, &capture, &db, 0);
        c.sim.play(Scenario {
            steps: vec![comment("carol", "!dance")],
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while queue(&db).iter().all(|r| r["user_unique_id"] != "carol") {
            assert!(Instant::now() < deadline, "carol's comment never arrived");
            std::thread::sleep(Duration::from_millis(100));
        }
        ctl(
            &db,
            &[
                "rule",
                "add",
                "dinochrome",
                "dance",
                "--event",
                "CommentEvent",
                "--comment-prefix",
                "!dance",
                "--priority",
                "9",
                "--action",
                "sparkle",
            ],
        );
        // The capture reloads its rules every 2 s.
        std::thread::sleep(Duration::from_millis(2500));
        c.sim.play(Scenario {
            steps: vec![comment("carol", "!dance again"), Step::End],
        });
        c.wait();
        let rules: Vec<(String, String)> = queue(&db)
            .iter()
            .filter(|r| r["user_unique_id"] == "carol")
            .map(|r| {
                (
                    r["rule"].as_str().unwrap_or_default().to_owned(),
                    r["priority"].to_string(),
                )
            })
            .collect();
        assert_eq!(
            rules,
            vec![
                ("CommentEvent".to_owned(), "6".to_owned()),
                ("dance".to_owned(), "9".to_owned())
            ],
            "{}",
            db.url()
        );
    }
}
