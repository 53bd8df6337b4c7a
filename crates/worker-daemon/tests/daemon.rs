//! The worker daemon as a process, on SQLite and (with TEST_MYSQL_URL) MariaDB.

mod common;

use std::time::Duration;

use common::{max_overlap, recorder, spans, Fixture};
use core_models::{services, EventType, QueueStatus, ServiceKind};
use dispatcher::Engine;
use serde_json::json;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn items_are_processed_by_priority_then_age() {
    for mut fx in Fixture::all() {
        let log = fx.path("order.log");
        let id = fx.add_service(
            "rec",
            ServiceKind::Exec,
            &[("command", json!(recorder(fx.dir.path(), &log, 0.0, false)))],
            false,
            &[
                (EventType::Gift, 10),
                (EventType::Comment, 5),
                (EventType::Like, 2),
            ],
        );
        use EventType::*;
        fx.enqueue(&[Like, Comment, Gift, Like, Gift, Comment, Like, Gift]);
        let mut expected = fx.items(id);
        expected.sort_by_key(|i| (std::cmp::Reverse(i.priority), i.id));
        let expected: Vec<i64> = expected.iter().map(|i| i.id).collect();

        let w = fx.spawn_worker("w", &["--service", "rec"]);
        fx.wait(LONG, "all completed", || fx.stats(id).completed == 8);
        let order: Vec<i64> = spans(&log).iter().map(|s| s.id).collect();
        assert_eq!(order, expected, "{}", w.output());
    }
}

#[test]
fn sync_items_never_overlap_and_async_items_overlap_up_to_the_limit() {
    for mut fx in Fixture::all() {
        let sync_log = fx.path("sync.log");
        let async_log = fx.path("async.log");
        let sync_id = fx.add_service(
            "one_at_a_time",
            ServiceKind::Exec,
            &[(
                "command",
                json!(recorder(fx.dir.path(), &sync_log, 0.15, false)),
            )],
            false,
            &[(EventType::Gift, 10)],
        );
        let async_id = fx.add_service(
            "parallel",
            ServiceKind::Exec,
            &[
                (
                    "command",
                    json!(recorder(fx.dir.path(), &async_log, 0.6, true)),
                ),
                ("max_concurrency", json!(3)),
            ],
            true,
            &[(EventType::Gift, 10)],
        );
        fx.enqueue(&[EventType::Gift; 9]);
        let w = fx.spawn_worker("w", &[]);
        fx.wait(LONG, "all completed", || {
            fx.stats(sync_id).completed == 9 && fx.stats(async_id).completed == 9
        });
        let s = spans(&sync_log);
        let a = spans(&async_log);
        assert_eq!((s.len(), a.len()), (9, 9), "{}", w.output());
        assert_eq!(max_overlap(&s), 1, "SYNC items overlapped: {s:?}");
        let most = max_overlap(&a);
        assert!(most <= 3, "ASYNC went past its limit of 3: {most}");
        assert!(most >= 2, "ASYNC items never overlapped: {a:?}");
    }
}

#[test]
fn two_daemons_share_a_service_without_processing_an_item_twice() {
    for mut fx in Fixture::all() {
        let log = fx.path("two.log");
        let id = fx.add_service(
            "shared",
            ServiceKind::Exec,
            &[
                ("command", json!(recorder(fx.dir.path(), &log, 0.01, true))),
                ("max_concurrency", json!(4)),
            ],
            true,
            &[(EventType::Gift, 10), (EventType::Like, 2)],
        );
        let a = fx.spawn_worker("a", &[]);
        let b = fx.spawn_worker("b", &[]);
        for _ in 0..10 {
            fx.enqueue(&[
                EventType::Gift,
                EventType::Like,
                EventType::Like,
                EventType::Gift,
                EventType::Like,
            ]);
        }
        fx.wait(LONG, "all 50 completed", || fx.stats(id).completed == 50);
        let done = spans(&log);
        let mut ids: Vec<i64> = done.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50, "an item ran twice or not at all");
        assert_eq!(
            done.len(),
            50,
            "an item ran twice: {}{}",
            a.output(),
            b.output()
        );
        assert!(fx.items(id).iter().all(|i| i.attempts == 1));
        // Exactly one of them served the service.
        let served = [&a, &b]
            .iter()
            .filter(|w| w.output().contains("serving SHARED"))
            .count();
        assert_eq!(served, 1, "{}\n---\n{}", a.output(), b.output());
    }
}

#[test]
fn sync_items_longer_than_the_leases_keep_their_one_owner() {
    // The fixture's leases are 2 s; each item takes 3.5 s. The leases are renewed while the
    // item runs, so the standby never takes the service (or the item) over.
    for mut fx in Fixture::all() {
        let log = fx.path("long.log");
        let id = fx.add_service(
            "long",
            ServiceKind::Exec,
            &[("command", json!(recorder(fx.dir.path(), &log, 3.5, false)))],
            false,
            &[(EventType::Gift, 10)],
        );
        let a = fx.spawn_worker("a", &[]);
        let b = fx.spawn_worker("b", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Gift]);
        fx.wait(LONG, "both long items completed", || {
            fx.stats(id).completed == 2
        });
        let done = spans(&log);
        assert_eq!(
            done.len(),
            2,
            "an item ran twice: {done:?}\n{}\n---\n{}",
            a.output(),
            b.output()
        );
        assert_eq!(max_overlap(&done), 1, "SYNC items overlapped: {done:?}");
        assert!(fx.items(id).iter().all(|i| i.attempts == 1));
        let served = [&a, &b]
            .iter()
            .filter(|w| w.output().contains("serving LONG"))
            .count();
        assert_eq!(served, 1, "{}\n---\n{}", a.output(), b.output());
    }
}

#[test]
fn a_standby_takes_over_from_a_killed_owner_and_reruns_its_item() {
    for mut fx in Fixture::all() {
        let log = fx.path("takeover.log");
        let id = fx.add_service(
            "victim",
            ServiceKind::Exec,
            &[("command", json!(recorder(fx.dir.path(), &log, 1.5, false)))],
            false,
            &[(EventType::Gift, 10)],
        );
        let first = fx.spawn_worker("first", &[]);
        fx.wait(LONG, "the first daemon owns the service", || {
            Engine::new(&mut fx.conn())
                .service_owner(id)
                .unwrap()
                .is_some()
        });
        let second = fx.spawn_worker("second", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Gift]);
        fx.wait(LONG, "an item is processing", || {
            fx.stats(id).processing == 1
        });

        let holder = fx
            .items(id)
            .into_iter()
            .find(|i| i.status == QueueStatus::Processing)
            .and_then(|i| i.locked_by)
            .unwrap();
        let (mut owner, standby) = if holder.contains(&format!(":{}:", first.pid())) {
            (first, second)
        } else {
            (second, first)
        };
        owner.signal("-KILL");
        owner.wait_exit(LONG);
        let killed = std::time::Instant::now();
        fx.wait(LONG, "the standby owns the service", || {
            Engine::new(&mut fx.conn())
                .service_owner(id)
                .unwrap()
                .is_some_and(|o| o.owner.contains(&format!(":{}:", standby.pid())))
        });
        // Within lease (2 s) + refresh (0.3 s), with room for a loaded machine.
        let took = killed.elapsed();
        assert!(
            took < Duration::from_secs(6),
            "takeover took {took:?}\n{}",
            standby.output()
        );

        fx.wait(LONG, "both items completed by the standby", || {
            fx.stats(id).completed == 2
        });
        let items = fx.items(id);
        assert_eq!(items.iter().map(|i| i.attempts).max(), Some(2), "{items:?}");
        assert!(items.iter().all(|i| i.status == QueueStatus::Completed));
        assert!(
            standby.output().contains("serving VICTIM"),
            "{}",
            standby.output()
        );
        let owner_now = Engine::new(&mut fx.conn()).service_owner(id).unwrap();
        assert!(
            owner_now.is_some_and(|o| o.owner.contains(&format!(":{}:", standby.pid()))),
            "the standby holds the lease"
        );
    }
}

#[test]
fn a_hanging_service_times_out_and_the_worker_goes_on() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "hangs",
            ServiceKind::Slow,
            &[("delay_ms", json!(60_000)), ("timeout_ms", json!(300))],
            false,
            &[(EventType::Gift, 10)],
        );
        let fine = fx.add_service(
            "fine",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10)],
        );
        let mut w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Gift, EventType::Gift]);
        fx.wait(LONG, "every hanging item failed by timeout", || {
            fx.stats(id).failed == 3
        });
        fx.wait(LONG, "the other service kept going", || {
            fx.stats(fine).completed == 3
        });
        for item in fx.items(id) {
            assert_eq!(item.last_error.as_deref(), Some("timed out after 300 ms"));
        }
        assert!(
            w.wait_exit(Duration::from_millis(200)).is_none(),
            "daemon died"
        );
    }
}

#[test]
fn a_failing_exec_program_fails_its_items_with_the_programs_error() {
    for mut fx in Fixture::all() {
        let script = fx.path("picky.sh");
        std::fs::write(
            &script,
            "while IFS= read -r line; do\n  id=$(printf '%s\\n' \"$line\" | sed -n 's/^{\"id\":\\([0-9]*\\),.*/\\1/p')\n  case \"$line\" in\n    *LikeEvent*) echo \"{\\\"id\\\":$id,\\\"ok\\\":false,\\\"error\\\":\\\"likes are not my thing\\\"}\" ;;\n    *) echo \"{\\\"id\\\":$id,\\\"ok\\\":true}\" ;;\n  esac\ndone\n",
        )
        .unwrap();
        let id = fx.add_service(
            "picky",
            ServiceKind::Exec,
            &[("command", json!(format!("sh {}", script.display())))],
            false,
            &[(EventType::Gift, 10), (EventType::Like, 2)],
        );
        let _w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Like]);
        fx.wait(LONG, "both processed", || {
            let s = fx.stats(id);
            s.completed == 1 && s.failed == 1
        });
        let failed = fx
            .items(id)
            .into_iter()
            .find(|i| i.status == QueueStatus::Failed)
            .unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("likes are not my thing"));
    }
}

#[test]
fn sigterm_exits_cleanly_with_nothing_left_processing() {
    for mut fx in Fixture::all() {
        let log = fx.path("term.log");
        let id = fx.add_service(
            "busy",
            ServiceKind::Exec,
            &[
                ("command", json!(recorder(fx.dir.path(), &log, 0.5, true))),
                ("max_concurrency", json!(2)),
            ],
            true,
            &[(EventType::Gift, 10)],
        );
        let mut w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift; 20]);
        fx.wait(LONG, "items are in flight", || fx.stats(id).processing > 0);
        w.signal("-TERM");
        assert_eq!(w.wait_exit(LONG), Some(0), "{}", w.output());
        let s = fx.stats(id);
        assert_eq!(s.processing, 0, "items left processing: {s:?}");
        assert_eq!(s.pending + s.completed, 20, "{s:?}");
        assert!(
            s.completed >= 1,
            "in-flight items were allowed to finish: {s:?}"
        );
        assert!(
            Engine::new(&mut fx.conn())
                .service_owner(id)
                .unwrap()
                .is_none(),
            "lease released"
        );
    }
}

#[test]
fn sigterm_stops_every_service_at_once_within_one_grace() {
    for mut fx in Fixture::all() {
        // Three SYNC services stuck in an item: each gets the shutdown grace (5 s in the
        // fixture) once, all at the same time, not one after another.
        let ids: Vec<i64> = ["stuck_a", "stuck_b", "stuck_c"]
            .iter()
            .map(|slug| {
                fx.add_service(
                    slug,
                    ServiceKind::Slow,
                    &[("delay_ms", json!(120_000)), ("timeout_ms", json!(300_000))],
                    false,
                    &[(EventType::Gift, 10)],
                )
            })
            .collect();
        let mut w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift, EventType::Gift]);
        fx.wait(LONG, "every service is in an item", || {
            ids.iter().all(|&id| fx.stats(id).processing == 1)
        });
        let signalled = std::time::Instant::now();
        w.signal("-TERM");
        assert_eq!(w.wait_exit(LONG), Some(0), "{}", w.output());
        let took = signalled.elapsed();
        // One grace is 5 s; three in a row would be 15 s.
        assert!(
            took < Duration::from_secs(11),
            "stopping took {took:?}: services were stopped one after another\n{}",
            w.output()
        );
        for &id in &ids {
            let s = fx.stats(id);
            assert_eq!((s.processing, s.pending), (0, 2), "{s:?}");
        }
    }
}

#[test]
fn an_unknown_class_is_reported_and_the_others_keep_running() {
    for mut fx in Fixture::all() {
        let good = fx.add_service(
            "good",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10)],
        );
        let bad = fx.add_service(
            "bad",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10)],
        );
        {
            use core_models::schema::services as sv;
            use diesel::prelude::*;
            let mut conn = fx.conn();
            core_models::with_conn!(&mut conn, |c| diesel::update(sv::table.find(bad))
                .set(sv::service_class.eq("python.module.Thing"))
                .execute(c)
                .unwrap());
        }
        let w = fx.spawn_worker("w", &[]);
        fx.enqueue(&[EventType::Gift]);
        fx.wait(LONG, "the good service works", || {
            fx.stats(good).completed == 1
        });
        fx.wait(LONG, "the bad one is reported", || {
            w.output()
                .contains("cannot run service bad: unknown service class 'python.module.Thing'")
        });
        assert_eq!(fx.stats(bad).pending, 1);
    }
}

#[test]
fn a_failing_start_is_retried_and_a_settings_change_restarts_the_service() {
    for mut fx in Fixture::all() {
        let good = fx.add_service(
            "steady",
            ServiceKind::Dummy,
            &[],
            false,
            &[(EventType::Gift, 10)],
        );
        // A program that cannot run: the start fails (and is retried), the items wait.
        let broken = fx.add_service(
            "broken",
            ServiceKind::Exec,
            &[("command", json!("no-such-program-tiklive --serve"))],
            false,
            &[(EventType::Gift, 10)],
        );
        let w = fx.spawn_worker("w", &["--verbose"]);
        fx.enqueue(&[EventType::Gift, EventType::Gift]);
        fx.wait(LONG, "the steady service works", || {
            fx.stats(good).completed == 2
        });
        fx.wait(LONG, "the failed start is reported twice (retried)", || {
            w.output()
                .matches("service broken failed to start: `no-such-program-tiklive --serve` exited at once")
                .count()
                >= 2
        });
        let s = fx.stats(broken);
        assert_eq!(
            (s.pending, s.failed),
            (2, 0),
            "items wait for a start: {s:?}"
        );

        // Fixing the command is a settings change: the runner restarts with it.
        let log = fx.path("fixed.log");
        services::update(
            &mut fx.conn(),
            "broken",
            &services::ServiceChanges {
                settings: vec![core_models::Setting {
                    key: "command".into(),
                    value: Some(json!(recorder(fx.dir.path(), &log, 0.0, false))),
                }],
                ..Default::default()
            },
        )
        .unwrap();
        fx.wait(
            LONG,
            "the restarted service processes the waiting items",
            || fx.stats(broken).completed == 2,
        );
        assert!(
            w.output()
                .contains("✅ [BROKEN] GiftEvent (P:10) completed in"),
            "{}",
            w.output()
        );
        assert_eq!(spans(&log).len(), 2);
    }
}

#[test]
fn stats_lines_report_every_queue_and_the_verbose_kind_logs_each_field() {
    for mut fx in Fixture::all() {
        let id = fx.add_service(
            "talky",
            ServiceKind::Verbose,
            &[],
            false,
            &[(EventType::Gift, 10), (EventType::Comment, 5)],
        );
        let w = fx.spawn_worker("w", &["--stats-every", "1"]);
        fx.enqueue(&[EventType::Gift, EventType::Comment]);
        fx.wait(LONG, "both items completed", || fx.stats(id).completed == 2);
        fx.wait(LONG, "a stats line with the final counts", || {
            w.output().contains(
                "[talky] pending 0 · processing 0 · completed 2 · failed 0 · discarded 0 · ",
            )
        });
        let out = w.output();
        assert!(out.contains("📊 queue statistics"), "{out}");
        assert!(out.contains(" items/s"), "{out}");
        // The `verbose` kind logs every field of the event it gets.
        for field in ["GiftEvent", "CommentEvent", "Nick 🎁", "room1"] {
            assert!(out.contains(field), "no {field:?} in the log:\n{out}");
        }
    }
}

#[test]
fn an_item_whose_worker_dies_on_its_last_attempt_is_failed() {
    for mut fx in Fixture::all() {
        let log = fx.path("last.log");
        let id = fx.add_service(
            "fragile",
            ServiceKind::Exec,
            &[
                ("command", json!(recorder(fx.dir.path(), &log, 30.0, false))),
                ("max_attempts", json!(1)),
            ],
            false,
            &[(EventType::Gift, 10)],
        );
        let mut first = fx.spawn_worker("first", &[]);
        fx.enqueue(&[EventType::Gift]);
        fx.wait(LONG, "the item is processing", || {
            fx.stats(id).processing == 1
        });
        first.signal("-KILL");
        first.wait_exit(LONG);
        let _second = fx.spawn_worker("second", &[]);
        fx.wait(LONG, "the rescue fails it (no attempts left)", || {
            fx.stats(id).failed == 1
        });
        let item = fx.items(id).pop().unwrap();
        assert_eq!(item.attempts, 1);
        let err = item.last_error.unwrap_or_default();
        assert!(!err.is_empty(), "a failed item says why");
    }
}

#[test]
fn refuses_an_unmigrated_database_and_a_wrong_url_in_one_line() {
    let db = test_support::TestDb::sqlite();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker-daemon"))
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("run `ctl migrate` first"), "{err}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker-daemon"))
        .args(["--database-url", "mysql://u:secret@127.0.0.1:1/x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("mysql://u:****@127.0.0.1:1/x") && !err.contains("secret"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
