//! The database going away mid-stream, and a daemon killed with events still spooled.
//!
//! MariaDB: a TCP proxy between the daemon and the server cuts every connection and refuses
//! new ones (the shared server itself keeps running for the other tests). SQLite: another
//! connection holds the write lock (`BEGIN EXCLUSIVE`) for longer than the daemon's 15 s busy
//! timeout, as a backup or a stuck tool would; the daemon's writes fail with "database is
//! locked" and it must spool until the lock is released.

mod common;

use std::time::{Duration, Instant};

use common::*;
use core_models::SessionStatus;
use test_support::TestDb;
use webcast_sim::{Scenario, Simulator, SimulatorConfig, Step};

fn comment(text: &str) -> Step {
    Step::Comment {
        user: "alice".into(),
        text: text.into(),
    }
}

/// The daemon's spool file in `dir` (`capture-spool-<streamer>-<db hash>.jsonl`), once it
/// exists.
fn spool_file(dir: &std::path::Path, sim: &webcast_sim::SimulatorHandle) -> std::path::PathBuf {
    let prefix = format!("capture-spool-{}-", sim.username());
    std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jsonl"))
        })
        .unwrap_or_else(|| dir.join("no-spool-yet"))
}

async fn wait_comments(url: &core_models::DbUrl, n: usize) {
    let url = url.clone();
    wait_until(&format!("{n} comments stored"), WAIT, || {
        let url = url.clone();
        async move { comments(&events(&url).await).len() >= n }
    })
    .await;
}

#[test]
fn database_outage_mid_stream_loses_and_doubles_nothing() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let backend = db.backend();
            let (mut outage, url) = Outage::for_db(&db).await;
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let args = daemon_args(&url, &sim, spool.path());
            let mut daemon = Daemon::spawn(&refs(&args), &[]);

            let mut expected = vec!["first! 🥇".to_owned()];
            for i in 0..5 {
                let text = format!("before {i}");
                sim.push(comment(&text));
                expected.push(text);
            }
            wait_comments(db.db_url(), expected.len()).await;

            outage.begin();
            let began = Instant::now();
            let mut during = Vec::new();
            for i in 0..20 {
                let text = format!("during {i} 🔥");
                during.push(comment(&text));
                during.push(Step::Pause { ms: 300 });
                expected.push(text);
            }
            sim.play(Scenario { steps: during });
            assert!(sim.wait_idle(WAIT).await, "simulator stuck");
            // SQLite only reports the failure after its 15 s busy timeout.
            let hold = match backend {
                core_models::Backend::Mysql => Duration::from_secs(11),
                core_models::Backend::Sqlite => Duration::from_secs(17),
            };
            let daemon_out = daemon.stdout.clone();
            wait_until("the daemon to report the outage", WAIT, || {
                let out = daemon_out.lock().map(|s| s.clone()).unwrap_or_default();
                async move { out.contains("database unavailable") }
            })
            .await;
            if let Some(rest) = hold.checked_sub(began.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            let spooled =
                std::fs::read_to_string(spool_file(spool.path(), &sim)).unwrap_or_default();
            assert!(
                spooled.contains("during 19"),
                "events spooled to disk during the outage"
            );
            outage.end();

            for i in 0..5 {
                let text = format!("after {i}");
                sim.push(comment(&text));
                expected.push(text);
            }
            sim.push(Step::End);
            let status = daemon.wait(WAIT).await;
            assert!(status.success(), "{status:?}\n{}", daemon.describe());

            let rows = events(db.db_url()).await;
            assert_eq!(
                comments(&rows),
                expected,
                "all, once, in order ({backend:?})"
            );
            assert_no_duplicate_msg_ids(&rows);
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(all[0].total_events, rows.len() as i64);
            let out = daemon.stdout();
            assert!(out.contains("database is back"), "{out}");
            // The socket was kept: one WebSocket for the whole run, outage included.
            let duties = sim.duties();
            assert_eq!(duties.accepted_connections(), 1, "{}", duties.summary());
            assert_eq!(duties.fetches.len(), 1, "{}", duties.summary());
            assert_eq!(
                std::fs::metadata(spool_file(spool.path(), &sim))
                    .map(|m| m.len())
                    .unwrap_or(0),
                0,
                "spool emptied"
            );
            sim.shutdown().await;
        });
    }
}

#[test]
fn kill_9_then_restart_continues_the_session_and_drains_the_spool() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let backend = db.backend();
            let (mut outage, url) = Outage::for_db(&db).await;
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let args = daemon_args(&url, &sim, spool.path());
            let mut first = Daemon::spawn(&refs(&args), &[]);
            let mut expected = vec!["first! 🥇".to_owned(), "before".to_owned()];
            sim.push(comment("before"));
            wait_comments(db.db_url(), 2).await;

            outage.begin();
            for i in 0..10 {
                let text = format!("spooled {i}");
                sim.push(comment(&text));
                expected.push(text);
            }
            let path = spool_file(spool.path(), &sim);
            wait_for(
                "all ten in the spool file",
                WAIT,
                || {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    async move { (0..10).all(|i| text.contains(&format!("spooled {i}\""))) }
                },
                || first.describe(),
            )
            .await;
            first.child.kill().expect("kill -9");
            let _ = first.wait(WAIT).await;
            outage.end();

            let mut second = Daemon::spawn(&refs(&args), &[]);
            wait_comments(db.db_url(), expected.len()).await;
            sim.push(comment("after restart"));
            expected.push("after restart".into());
            sim.push(Step::End);
            let status = second.wait(WAIT).await;
            assert!(status.success(), "{status:?}\n{}", second.describe());

            let rows = events(db.db_url()).await;
            assert_eq!(
                comments(&rows),
                expected,
                "{backend:?}\n{}",
                second.describe()
            );
            assert_no_duplicate_msg_ids(&rows);
            // The restart takes the killed daemon's capture over (its process is gone, so
            // at once) and goes on with its session, in the same room.
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1, "{}", second.describe());
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(all[0].total_events, rows.len() as i64);
            assert!(
                second
                    .stdout()
                    .contains(&format!("continuing session {} ", all[0].id)),
                "{}",
                second.describe()
            );
            assert!(second.stdout().contains("left in"), "{}", second.stdout());
            assert_eq!(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), 0);
            sim.shutdown().await;
        });
    }
}

#[test]
fn sigterm_during_an_outage_keeps_the_spool_for_the_next_start() {
    for db in TestDb::all_migrated() {
        runtime().block_on(async {
            let (mut outage, url) = Outage::for_db(&db).await;
            let spool = tempfile::tempdir().expect("spool dir");
            let sim = Simulator::start(SimulatorConfig::default())
                .await
                .expect("sim");
            let mut args = daemon_args(&url, &sim, spool.path());
            args.extend(["--drain-timeout".into(), "2".into()]);
            let mut first = Daemon::spawn(&refs(&args), &[]);
            sim.push(comment("before"));
            wait_comments(db.db_url(), 2).await;

            outage.begin();
            sim.push(comment("stuck in the spool"));
            let path = spool_file(spool.path(), &sim);
            wait_for(
                "the comment in the spool file",
                WAIT,
                || {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    async move { text.contains("stuck in the spool") }
                },
                || first.describe(),
            )
            .await;
            first.signal("-TERM");
            let status = first.wait(WAIT).await;
            assert_eq!(status.code(), Some(1), "{}", first.describe());
            let err = first.stderr();
            assert!(
                err.contains("kept in") && err.contains("next start"),
                "{err}"
            );
            outage.end();

            let mut second = Daemon::spawn(&refs(&args), &[]);
            wait_comments(db.db_url(), 3).await;
            sim.push(Step::End);
            assert!(second.wait(WAIT).await.success(), "{}", second.describe());
            let rows = events(db.db_url()).await;
            assert_eq!(
                comments(&rows),
                vec!["first! 🥇", "before", "stuck in the spool"]
            );
            // The next start goes on with the session the stopped daemon left open.
            let all = sessions(db.db_url()).await;
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].status, SessionStatus::Completed);
            assert_eq!(
                all[0].total_events,
                rows.len() as i64,
                "the comments and the end"
            );
            sim.shutdown().await;
        });
    }
}
