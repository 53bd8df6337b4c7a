//! The capture daemon as a process, against the in-process simulator and a real database
//! (SQLite always; MariaDB/MySQL too when TEST_MYSQL_URL is set).

mod common;

use common::*;
use core_models::{Backend, EventType, SessionStatus, StreakStatus};
use test_support::TestDb;
use webcast_sim::{Fault, Scenario, Simulator, SimulatorConfig, Step};

fn comment(user: &str, text: &str) -> Step {
    Step::Comment {
        user: user.into(),
        text: text.into(),
    }
}

fn demo_scenario() -> Vec<Step> {
    vec![
        Step::Join {
            user: "alice".into(),
        },
        comment("alice", "hello 👋 مرحبا こんにちは"),
        Step::Gift {
            user: "bob".into(),
            gift: "Rose".into(),
            count: 5,
            interval_ms: 0,
            lose_end: false,
        },
        Step::Like {
            user: "carol".into(),
            count: 15,
        },
        Step::Follow {
            user: "dave".into(),
        },
        Step::Share {
            user: "dave".into(),
        },
        Step::Subscribe {
            user: "erin".into(),
            months: 2,
        },
        Step::Viewers {
            total: 120,
            total_user: 1500,
        },
        Step::Gift {
            user: "frank".into(),
            gift: "Galaxy".into(),
            count: 1,
            interval_ms: 0,
            lose_end: false,
        },
    ]
}

#[test]
fn scenario_produces_exactly_the_expected_rows() {
    for db in seeded_dbs() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let mut args = daemon_args(db.url(), &sim, spool.path());
            args.extend(["--session-name".into(), "evening 🌙".into()]);
            let mut daemon = Daemon::spawn(&refs(&args), &[]);
            let mut steps = demo_scenario();
            steps.push(Step::End);
            sim.play(Scenario { steps });
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, daemon.describe());

            let rows = events(db.db_url()).await;
            let types: Vec<EventType> = rows.iter().map(|e| e.event_type).collect();
            use EventType::*;
            assert_eq!(
                types,
                vec![
                    Comment, // the history comment of the signed fetch
                    Join,
                    Comment,
                    Gift,
                    Gift,
                    Gift,
                    Gift,
                    Gift,
                    Gift,
                    Like,
                    Follow,
                    Share,
                    Subscribe,
                    ViewerCount,
                    Gift,
                    LiveEnd
                ],
                "{}",
                daemon.describe()
            );
            assert_no_duplicate_msg_ids(&rows);
            assert_eq!(
                comments(&rows),
                vec!["first! 🥇", "hello 👋 مرحبا こんにちは"],
                "emojis and scripts intact"
            );

            // The Rose streak: start, continue ×4, end; one streak id; real totals.
            let rose: Vec<_> = rows
                .iter()
                .filter(|e| e.event_type == Gift && e.data()["gift"]["name"] == "Rose")
                .collect();
            let statuses: Vec<_> = rose.iter().map(|e| e.streak_status).collect();
            use StreakStatus::*;
            assert_eq!(
                statuses,
                vec![
                    Some(Start),
                    Some(Continue),
                    Some(Continue),
                    Some(Continue),
                    Some(Continue),
                    Some(End)
                ]
            );
            assert!(rose.iter().all(|e| e.streak_id == rose[0].streak_id));
            // Streaking means the combo goes on: every step but the end (the column and
            // event_data's key agree, as in the original system).
            assert!(rose
                .iter()
                .all(|e| e.is_streaking == (e.streak_status != Some(End))));
            let totals: Vec<i64> = rose
                .iter()
                .map(|e| e.data()["streak_total_count"].as_i64().unwrap_or(-1))
                .collect();
            assert_eq!(totals, vec![1, 2, 3, 4, 5, 5], "cumulative, never summed");
            let galaxy = rows
                .iter()
                .find(|e| e.data()["gift"]["name"] == "Galaxy")
                .expect("galaxy");
            assert_eq!(galaxy.streak_status, None);
            assert!(!galaxy.is_streaking);

            // event_data keys of the contract.
            let by_type = |t: EventType| {
                rows.iter()
                    .find(|e| e.event_type == t)
                    .expect("type")
                    .data()
            };
            let gift = by_type(Gift);
            for key in [
                "gift",
                "repeat_count",
                "streak_total_count",
                "is_streaking",
                "from_user",
                "to_user",
            ] {
                assert!(
                    gift.get(key).is_some(),
                    "gift event_data lacks {key}: {gift}"
                );
            }
            for key in ["id", "name", "diamond_count", "streakable"] {
                assert!(gift["gift"].get(key).is_some(), "gift.{key}");
            }
            let like = by_type(Like);
            assert_eq!(like["like_count"], 15);
            assert_eq!(like["total_likes"], 15);
            let viewers = by_type(ViewerCount);
            assert_eq!(viewers["viewer_count"], 120);
            assert_eq!(viewers["total_viewers"], 1500);
            assert_eq!(by_type(Comment)["user"]["unique_id"], "early_bird");
            for t in [Share, Follow, Join, Subscribe] {
                assert!(by_type(t)["user"]["unique_id"].is_string(), "{t} user");
            }

            // One session, completed, with the right total and name.
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1);
            let s = &all[0];
            assert_eq!(s.status, SessionStatus::Completed);
            assert_eq!(s.total_events, rows.len() as i64);
            assert_eq!(s.name.as_deref(), Some("evening 🌙"));
            assert_eq!(s.room_id, sim.room_id().to_string());
            assert_eq!(s.streamer_unique_id, sim.username());
            assert!(s.ended_at.is_some());

            // Queue rows per service: dinochrome has Join disabled; overlays takes all seven;
            // viewer counts and the end are stored but not dispatched.
            let interactive = rows
                .iter()
                .filter(|e| EventType::INTERACTIVE.contains(&e.event_type))
                .count() as i64;
            let joins = rows.iter().filter(|e| e.event_type == Join).count() as i64;
            assert_eq!(
                queue_counts(db.db_url()).await,
                vec![
                    ("dinochrome".to_owned(), interactive - joins),
                    ("overlays".to_owned(), interactive)
                ]
            );

            // Console lines like the original's.
            let out = daemon.stdout();
            for line in [
                "💬 alice: hello 👋 مرحبا こんにちは",
                "🎁 bob sent Rose x5 (streak total 5)",
                "❤️ carol liked x15",
                "📤 dave shared",
                "👤 dave followed",
                "🚪 alice joined",
                "⭐ erin subscribed",
            ] {
                assert!(out.contains(line), "missing {line:?} in\n{out}");
            }
            sim.shutdown().await;
        });
    }
}

#[test]
fn duplicates_and_dropped_connections_store_everything_once() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let mut args = daemon_args(db.url(), &sim, spool.path());
            args.push("--verbose".into());
            let mut daemon = Daemon::spawn(&refs(&args), &[]);
            let mut steps = Vec::new();
            let mut expected = vec!["first! 🥇".to_owned()];
            for round in 0..3 {
                for i in 0..4 {
                    let text = format!("round {round} comment {i} 🔁");
                    steps.push(comment("alice", &text));
                    expected.push(text);
                }
                // The frame of those comments again, byte for byte (same log_id, same
                // payload), then the last comment again in a frame of its own.
                steps.push(Step::Fault {
                    fault: Fault::DuplicateFrame,
                });
                steps.push(Step::Fault {
                    fault: Fault::DuplicateMsgId,
                });
                steps.push(Step::Fault {
                    fault: Fault::DropConnection,
                });
            }
            steps.push(comment("bob", "after the storms"));
            expected.push("after the storms".into());
            steps.push(Step::End);
            sim.play(Scenario { steps });
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, daemon.describe());

            let rows = events(db.db_url()).await;
            assert_eq!(comments(&rows), expected, "{}", daemon.describe());
            assert_no_duplicate_msg_ids(&rows);
            let duties = sim.duties();
            assert_eq!(duties.repeated_frames, 3, "{}", duties.summary());
            assert!(duties.accepted_connections() >= 4, "{}", duties.summary());
            let out = daemon.stdout();
            assert!(out.contains("✅ reconnected"), "{out}");
            assert!(
                out.contains("   ↳ stored"),
                "--verbose shows store outcomes: {out}"
            );
            assert!(
                out.contains("protocol: "),
                "--verbose shows counters: {out}"
            );
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1, "reconnects keep the session");
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(all[0].total_events, rows.len() as i64);
            sim.shutdown().await;
        });
    }
}

#[test]
fn sigterm_completes_the_session() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let mut args = daemon_args(db.url(), &sim, spool.path());
            args.push("--quiet".into());
            let mut daemon = Daemon::spawn(&refs(&args), &[]);
            sim.push(comment("alice", "before the signal"));
            let url = db.db_url().clone();
            wait_until("the comment stored", WAIT, || {
                let url = url.clone();
                async move { comments(&events(&url).await).len() == 2 }
            })
            .await;
            daemon.signal("-TERM");
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, daemon.describe());
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(all[0].total_events, 2);
            assert_eq!(daemon.stdout(), "", "--quiet prints nothing");
            sim.shutdown().await;
        });
    }
}

/// Two daemons for one streamer, as if on two machines (their HOSTNAMEs differ, so neither
/// can see the other's process): the second stands by, leaving the first one's session alone.
async fn holder_and_standby(
    db: &TestDb,
    sim: &webcast_sim::SimulatorHandle,
    spool: &std::path::Path,
) -> (Daemon, Daemon) {
    let args = daemon_args(db.url(), sim, spool);
    let first = Daemon::spawn(&refs(&args), &[("HOSTNAME", "machine-a")]);
    sim.push(comment("alice", "first daemon"));
    let url = db.db_url().clone();
    wait_until("the comment stored", WAIT, || {
        let url = url.clone();
        async move { comments(&events(&url).await).len() == 2 }
    })
    .await;
    let second = Daemon::spawn(&refs(&args), &[("HOSTNAME", "machine-b")]);
    wait_for(
        "the second daemon standing by",
        WAIT,
        || {
            let out = second.stdout();
            async move { out.contains("standing by: machine-a:") }
        },
        || second.describe(),
    )
    .await;
    let all = sessions(db.db_url()).await;
    assert_eq!(all.len(), 1, "the standby opened no session");
    assert_eq!(
        all[0].status,
        SessionStatus::Active,
        "first session untouched"
    );
    (first, second)
}

/// After a takeover: a comment pushed now is stored in the same session, once; the standby,
/// stopped, completes that session.
async fn continues_the_session(
    db: &TestDb,
    sim: &webcast_sim::SimulatorHandle,
    mut second: Daemon,
) {
    let first_session = sessions(db.db_url()).await[0].id;
    wait_for(
        "the standby continuing the session",
        WAIT,
        || {
            let out = second.stdout();
            let line = format!("continuing session {first_session} ");
            async move { out.contains(&line) }
        },
        || second.describe(),
    )
    .await;
    sim.push(comment("bob", "after the takeover"));
    let url = db.db_url().clone();
    wait_until("the comment stored after the takeover", WAIT, || {
        let url = url.clone();
        async move { comments(&events(&url).await).contains(&"after the takeover".to_owned()) }
    })
    .await;
    second.signal("-TERM");
    let status = second.wait(WAIT).await;
    assert!(status.success(), "{:?}\n{}", status, second.describe());
    let rows = events(db.db_url()).await;
    assert_no_duplicate_msg_ids(&rows);
    let all = sessions(db.db_url()).await;
    assert_eq!(all.len(), 1, "one session across both daemons");
    assert_eq!(all[0].status, SessionStatus::Completed);
    assert!(rows.iter().all(|e| e.session_id == first_session));
    assert_eq!(all[0].total_events, rows.len() as i64);
    let leases = query(db.db_url(), |conn| {
        core_models::with_conn!(conn, |c| {
            use diesel::prelude::*;
            core_models::schema::capture_leases::table
                .count()
                .get_result::<i64>(c)
                .expect("count leases")
        })
    })
    .await;
    assert_eq!(leases, 0, "a completed capture lets its lease go");
}

#[test]
fn a_standby_takes_over_a_killed_daemon_within_the_lease_and_continues_its_session() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let (mut first, second) = holder_and_standby(&db, &sim, spool.path()).await;
            first.child.kill().expect("kill -9");
            let killed = std::time::Instant::now();
            let _ = first.wait(WAIT).await;
            let session = sessions(db.db_url()).await[0].id;
            wait_for(
                "the standby taking over",
                WAIT,
                || {
                    let out = second.stdout();
                    async move { out.contains("took over the capture of @") }
                },
                || second.describe(),
            )
            .await;
            let took = killed.elapsed();
            assert!(
                took <= std::time::Duration::from_secs(15),
                "took over after {took:?}"
            );
            assert_eq!(sessions(db.db_url()).await[0].id, session);
            continues_the_session(&db, &sim, second).await;
            sim.shutdown().await;
        });
    }
}

#[test]
fn a_stopped_daemon_hands_over_to_its_standby_at_once() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let (mut first, second) = holder_and_standby(&db, &sim, spool.path()).await;
            first.signal("-TERM");
            let status = first.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, first.describe());
            assert!(
                first.stdout().contains("handed over to machine-b:"),
                "{}",
                first.describe()
            );
            assert_eq!(
                sessions(db.db_url()).await[0].status,
                SessionStatus::Active,
                "the session stays open for the standby"
            );
            continues_the_session(&db, &sim, second).await;
            sim.shutdown().await;
        });
    }
}

#[test]
fn username_from_config_and_sign_server_from_the_environment() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            // What `ctl config set tiktok_user …` does, in any spelling the user types.
            let configured = format!("@{}", sim.username().to_uppercase());
            query(db.db_url(), move |c| {
                core_models::config_store::set(
                    c,
                    core_models::config_store::TIKTOK_USER,
                    &configured,
                )
                .expect("config set");
            })
            .await;
            let base = sim.base_url().to_string();
            // No --username, no --room-id (so the lookup runs for the configured streamer)
            // and no --sign-server-url: WEBCAST_SIGN_SERVER_URL points at the simulator.
            let args = [
                "--database-url",
                db.url(),
                "--tiktok-base-url",
                &base,
                "--spool-dir",
                &spool.path().display().to_string(),
                "--reconnect-delay-ms",
                "100",
            ]
            .map(str::to_owned);
            let mut daemon = Daemon::spawn(&refs(&args), &[("WEBCAST_SIGN_SERVER_URL", &base)]);
            sim.push(comment("alice", "found you"));
            sim.push(Step::End);
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, daemon.describe());

            let duties = sim.duties();
            assert!(!duties.lookups.is_empty(), "{}", daemon.describe());
            assert!(
                duties.lookups.iter().all(|l| l.username == sim.username()),
                "{:?}",
                duties.lookups
            );
            assert_eq!(
                duties.fetches.len(),
                1,
                "signed through the env var's server"
            );
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].streamer_unique_id, sim.username());
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(
                comments(&events(db.db_url()).await),
                vec!["first! 🥇", "found you"]
            );
            let out = daemon.stdout();
            assert!(
                out.contains(&format!(
                    "connecting to @{}'s LIVE (sign server {})",
                    sim.username(),
                    base.trim_end_matches('/')
                )),
                "{out}"
            );
            sim.shutdown().await;
        });
    }
}

/// Row identity for comparing two captures: everything but ids and storage times.
fn fingerprint(rows: &[core_models::LiveEvent]) -> Vec<String> {
    rows.iter()
        .map(|e| {
            format!(
                "{} {:?} {:?} {:?} {:?} {:?} {} {}",
                e.event_type,
                e.msg_id,
                e.user_unique_id,
                e.user_nickname,
                e.streak_status,
                e.streak_id,
                e.timestamp,
                e.event_data
            )
        })
        .collect()
}

#[test]
fn a_recorded_session_replays_to_the_same_rows() {
    for db in seeded_dbs() {
        // The replay goes into a fresh database of the same backend, made outside the runtime.
        let replay_db = match db.backend() {
            Backend::Mysql => TestDb::mysql().expect("a MySQL TestDb comes from TEST_MYSQL_URL"),
            Backend::Sqlite => TestDb::sqlite(),
        };
        replay_db.conn().run_migrations().expect("migrate");
        core_models::seed::populate_initial_data(&mut replay_db.conn()).expect("seed");
        assert_eq!(replay_db.backend(), db.backend());
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let record = spool.path().join("live.rec.jsonl");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let mut args = daemon_args(db.url(), &sim, spool.path());
            args.extend(["--record".into(), record.display().to_string()]);
            let mut daemon = Daemon::spawn(&refs(&args), &[]);
            let mut steps = demo_scenario();
            steps.insert(
                3,
                Step::Fault {
                    fault: Fault::DropConnection,
                },
            );
            steps.push(Step::End);
            sim.play(Scenario { steps });
            assert!(daemon.wait(WAIT).await.success(), "{}", daemon.describe());
            sim.shutdown().await;
            let original = events(db.db_url()).await;
            let original_queues = queue_counts(db.db_url()).await;
            assert!(original.len() > 10);

            // Replay into a fresh database, through a simulator fed with the recorded frames.
            let frames = webcast::recording::read(&record).expect("recording");
            assert!(frames.len() >= 3, "frames recorded: {}", frames.len());
            let replay = Simulator::start(SimulatorConfig {
                scenario: Scenario::replay(&frames, 0.0),
                history_in_fetch: false,
                ..SimulatorConfig::default()
            })
            .await
            .expect("replay sim");
            let spool2 = tempfile::tempdir().expect("spool dir");
            let args = daemon_args(replay_db.url(), &replay, spool2.path());
            let mut again = Daemon::spawn(&refs(&args), &[]);
            assert!(again.wait(WAIT).await.success(), "{}", again.describe());
            let replayed = events(replay_db.db_url()).await;
            let recorded: Vec<String> = frames
                .iter()
                .map(|f| {
                    let ids = webcast::frame::decode_push_frame(&f.frame)
                        .ok()
                        .and_then(|p| {
                            webcast::frame::decode_fetch_result(&p)
                                .ok()
                                .map(|r| (p.log_id, r))
                        })
                        .map(|(log, r)| {
                            let ids: Vec<i64> = r.messages.iter().map(|m| m.msg_id).collect();
                            format!("log {log}: {ids:?}")
                        });
                    format!("{} {}", f.ts_ms, ids.unwrap_or_else(|| "?".into()))
                })
                .collect();
            assert_eq!(
                fingerprint(&replayed),
                fingerprint(&original),
                "recorded frames:\n{}\nreplay daemon:\n{}\nreplay sim: {}",
                recorded.join("\n"),
                again.describe(),
                replay.duties().summary()
            );
            assert_eq!(queue_counts(replay_db.db_url()).await, original_queues);
            replay.shutdown().await;
        });
    }
}

#[test]
fn exit_codes_and_messages() {
    // Each backend with a migrated database and a fresh, unmigrated one; both are made (and
    // dropped) outside the runtime, as the MySQL wrapper blocks.
    for (db, fresh) in TestDb::all_migrated().into_iter().zip(TestDb::all()) {
        assert_eq!(db.backend(), fresh.backend());
        runtime().block_on(exit_codes_on(&db, &fresh));
    }
}

async fn exit_codes_on(db: &TestDb, fresh: &TestDb) {
    let backend = db.backend();
    let spool = tempfile::tempdir().expect("spool dir");
    let sp = spool.path().display().to_string();

    // No username anywhere → 2, with the original's advice.
    let mut d = Daemon::spawn(&["--database-url", db.url(), "--spool-dir", &sp], &[]);
    assert_eq!(d.wait(WAIT).await.code(), Some(2), "{backend:?}");
    let err = d.stderr();
    assert!(
        err.contains("--username") && err.contains("ctl config set tiktok_user"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // Database unreachable → 7, password masked.
    let mut d = Daemon::spawn(
        &[
            "--database-url",
            "mysql://app:s3cret-pw@127.0.0.1:1/tiklive",
            "--username",
            "x",
        ],
        &[],
    );
    assert_eq!(d.wait(WAIT).await.code(), Some(7));
    let err = d.stderr();
    assert!(
        err.contains("mysql://app:****@127.0.0.1:1/tiklive"),
        "{err}"
    );
    assert!(!err.contains("s3cret-pw"), "{err}");

    // Unmigrated → 7 with the fix.
    let mut d = Daemon::spawn(
        &[
            "--database-url",
            fresh.url(),
            "--username",
            "x",
            "--spool-dir",
            &sp,
        ],
        &[],
    );
    assert_eq!(d.wait(WAIT).await.code(), Some(7), "{backend:?}");
    assert!(d.stderr().contains("ctl migrate"), "{}", d.stderr());

    // Room lookup answers through the simulator.
    let sim = Simulator::start(SimulatorConfig {
        api_key: Some("the-right-key".into()),
        ..SimulatorConfig::default()
    })
    .await
    .expect("sim");
    let base = sim.base_url().to_string();
    let lookup = |user: &str| -> Vec<String> {
        [
            "--database-url",
            db.url(),
            "--username",
            user,
            "--sign-server-url",
            &base,
            "--tiktok-base-url",
            &base,
            "--spool-dir",
            &sp,
            "--reconnect-delay-ms",
            "10",
            "--max-attempts",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let key = [("WEBCAST_SIGN_API_KEY", "the-right-key")];
    use webcast_sim::LookupMode;
    sim.set_lookup(LookupMode::Offline);
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(3), "{}", d.describe());
    assert!(d.stderr().contains("offline"), "{}", d.stderr());

    sim.set_lookup(LookupMode::Live);
    let mut d = Daemon::spawn(&refs(&lookup("nobody_here")), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(4), "{}", d.describe());
    assert!(d.stderr().contains("not found"), "{}", d.stderr());

    // Blocked → 5: a captcha, an age-restricted LIVE, a refused WebSocket.
    sim.set_lookup(LookupMode::Captcha);
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(5), "{}", d.describe());
    assert!(d.stderr().contains("blocked"), "{}", d.stderr());

    sim.set_lookup(LookupMode::AgeRestricted);
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(5), "{}", d.describe());
    assert!(d.stderr().contains("age-restricted"), "{}", d.stderr());
    assert!(d.stderr().contains("--room-id"), "{}", d.stderr());

    sim.set_lookup(LookupMode::Live);
    for _ in 0..3 {
        sim.reject_next_handshake(415, "DEVICE_BLOCKED");
    }
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(5), "{}", d.describe());
    let refusals = d
        .stdout()
        .matches("⛔ TikTok refused the connection: 415 DEVICE_BLOCKED")
        .count();
    assert_eq!(
        refusals,
        3,
        "one line per refused attempt\n{}",
        d.describe()
    );
    assert!(d.stderr().contains("DEVICE_BLOCKED"), "{}", d.stderr());

    // A refusal, then sign-server outages until giving up: an outage (1), not a block. The
    // outages are queued once the refusal happened, during the (slow) first backoff.
    sim.reject_next_handshake(415, "DEVICE_BLOCKED");
    let mut slow = lookup(sim.username());
    let delay = slow
        .iter()
        .position(|a| a == "--reconnect-delay-ms")
        .expect("delay flag")
        + 1;
    slow[delay] = "1500".into();
    let refused_before = sim.duties().connections.len();
    let mut d = Daemon::spawn(&refs(&slow), &key);
    sim.wait_for(WAIT, |duties| duties.connections.len() > refused_before)
        .await
        .unwrap_or_else(|summary| panic!("no handshake: {summary}\n{}", d.describe()));
    sim.fail_fetches(&[500, 503]);
    assert_eq!(d.wait(WAIT).await.code(), Some(1), "{}", d.describe());
    let statuses: Vec<u16> = sim.duties().fetches.iter().map(|f| f.status).collect();
    assert_eq!(
        statuses[statuses.len() - 3..],
        [200, 500, 503],
        "refused after a good fetch, then two failed fetches"
    );
    assert!(d.stdout().contains("⛔ TikTok refused the connection"));
    assert!(d.stderr().contains("HTTP 503"), "{}", d.stderr());

    // Wrong API key → 6, and the key never shows.
    let mut verbose = lookup(sim.username());
    verbose.push("--verbose".into());
    let mut d = Daemon::spawn(
        &refs(&verbose),
        &[("WEBCAST_SIGN_API_KEY", "wrong-key-123")],
    );
    assert_eq!(d.wait(WAIT).await.code(), Some(6), "{}", d.describe());
    assert!(d.stderr().contains("401"), "{}", d.stderr());
    assert!(!d.describe().contains("wrong-key-123"));

    // A paid plan needed → 6 too.
    sim.fail_fetches(&[402]);
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(6), "{}", d.describe());
    assert!(d.stderr().contains("402"), "{}", d.stderr());

    // Rate-limited on every attempt → 8, and the last line promises no retry.
    sim.fail_fetches(&[429; 3]);
    let mut d = Daemon::spawn(&refs(&lookup(sim.username())), &key);
    assert_eq!(d.wait(WAIT).await.code(), Some(8), "{}", d.describe());
    let err = d.stderr();
    assert!(err.contains("rate-limit"), "{err}");
    assert!(err.contains("giving up after 3"), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(!last.contains("retrying"), "{last}");
    let statuses: Vec<u16> = sim.duties().fetches.iter().map(|f| f.status).collect();
    assert_eq!(
        statuses.iter().rev().take(3).copied().collect::<Vec<_>>(),
        vec![429; 3],
        "every forced failure was used: {statuses:?}"
    );

    // The aborted sessions of those runs are marked so, with the reason.
    let all = sessions(db.db_url()).await;
    assert!(!all.is_empty());
    assert!(
        all.iter().all(|s| s.status == SessionStatus::Aborted),
        "{all:?}"
    );
    sim.shutdown().await;
}

/// Whether `actual` holds everything `expected` says: objects key by key, arrays element by
/// element, anything else equal.
fn holds(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|got| holds(got, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(got, want)| holds(got, want))
        }
        _ => actual == expected,
    }
}

/// Every message decoded since issue 16, encoded with a peer library's schema
/// (`crates/webcast/tests/peer/`), served through the simulator's sign server and push server:
/// each becomes a row of its type, with its msg_id and its event_data contract; a service
/// subscribed to the new types gets them queued.
#[test]
fn peer_encoded_messages_are_stored_with_their_contract() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../webcast/tests/peer/messages.jsonl");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(path)
        .expect("peer messages")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for db in seeded_dbs() {
        runtime().block_on(async {
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let args = daemon_args(db.url(), &sim, spool.path());
            let mut daemon = Daemon::spawn(&refs(&args), &[]);
            let mut steps: Vec<Step> = lines
                .iter()
                .map(|l| Step::Message {
                    method: l["method"].as_str().expect("method").into(),
                    payload_b64: l["payload_b64"].as_str().expect("payload").into(),
                })
                .collect();
            steps.push(Step::End);
            sim.play(Scenario { steps });
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{:?}\n{}", status, daemon.describe());

            let rows = events(db.db_url()).await;
            let mut checked = 0;
            for line in &lines {
                let msg_id = line["msg_id"].as_i64().expect("msg_id");
                let row = rows.iter().find(|r| r.msg_id == Some(msg_id));
                let Some(event_type) = line["expect"]["event_type"].as_str() else {
                    assert!(row.is_none(), "{msg_id} maps to no event");
                    continue;
                };
                let row = row.unwrap_or_else(|| panic!("no row for {msg_id} ({event_type})"));
                assert_eq!(row.event_type.as_str(), event_type, "{msg_id}");
                let data = row.data();
                assert!(
                    holds(&data, &line["expect"]["data"]),
                    "{event_type} {msg_id}:\n got {data}\nwant {}",
                    line["expect"]["data"]
                );
                checked += 1;
            }
            assert_eq!(checked, 15, "{}", daemon.describe());
            let out = daemon.stdout();
            for line in [
                "🗑️ a moderator deleted 2 comment(s)",
                "🧰 box_sender sent a treasure box (100 💎 for 25 viewers)",
                "📊 poll ended: Pizza or pasta? 🍕 (Pizza 30, Pasta 9)",
                "❓ curious asked: Where is this? ¿dónde?",
                "📌 pinned_author's comment pinned: Welcome everyone! 👋",
                "⚔️ battle started: the_host vs the_rival",
                "⚔️ battle points: 150 – 90",
                "🎯 goal 100 roses for a dance 💃: 42/100",
            ] {
                assert!(out.contains(line), "missing {line:?} in\n{out}");
            }
            sim.shutdown().await;
        });
    }
}
