//! `ctl service add | disable | enable | remove` while a real `worker-daemon` process runs: each
//! change is picked up without a restart (issue: "no code, no restart"), on SQLite and (with
//! TEST_MYSQL_URL) MariaDB/MySQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use core_models::{services, sessions, CapturedEvent, EventType};
use dispatcher::{Batch, Engine, SessionRef};
use test_support::TestDb;

const LONG: Duration = Duration::from_secs(60);

/// The worker daemon next to `ctl` (built by `cargo test --workspace`).
fn worker_binary() -> Option<PathBuf> {
    test_support::binaries::sibling(Path::new(env!("CARGO_BIN_EXE_ctl")), "worker-daemon")
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

fn completed(db: &TestDb, slug: &str) -> i64 {
    let stats: serde_json::Value =
        serde_json::from_str(&ctl(db, &["queue", "stats", slug, "--json"])).expect("JSON");
    stats[0]["completed"].as_i64().expect("completed")
}

fn wait(what: &str, mut cond: impl FnMut() -> bool, log: &dyn Fn() -> String) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn services_changed_with_ctl_are_picked_up_by_a_running_worker() {
    let Some(worker) = worker_binary() else {
        return;
    };
    for db in TestDb::all() {
        ctl(&db, &["migrate"]);
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("worker.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut w = Worker {
            child: Command::new(&worker)
                .args(["--http", "off", "--refresh", "0.3", "--stats-every", "0"])
                .arg("--verbose")
                .env("DATABASE_URL", db.url())
                .env("WORKER_LOG", "info")
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("spawn worker-daemon"),
            log,
        };
        let output = || w.output();

        let mut conn = db.conn();
        let session = sessions::start(&mut conn, None, "room", "streamer").expect("session");
        let mut msg_id = 0;
        let mut gift = || {
            msg_id += 1;
            let event = CapturedEvent {
                event_type: EventType::Gift,
                msg_id: Some(msg_id),
                timestamp: chrono::Utc::now(),
                user_id: None,
                user_unique_id: None,
                user_nickname: Some("fan".into()),
                streak: None,
                data: serde_json::json!({}),
                received_at: None,
            };
            Engine::new(&mut db.conn())
                .dispatch(&Batch {
                    session: SessionRef::of(&session),
                    events: vec![event],
                })
                .expect("dispatch");
        };

        ctl(
            &db,
            &[
                "service",
                "add",
                "--name",
                "Late",
                "--slug",
                "late",
                "--event",
                "GiftEvent:10:sync:keep",
            ],
        );
        gift();
        wait(
            "the added service processes its item",
            || completed(&db, "late") == 1,
            &output,
        );

        let service_id = services::find(&mut conn, "late").expect("service").id;
        let owner = || {
            Engine::new(&mut db.conn())
                .service_owner(service_id)
                .expect("owner")
        };
        assert!(owner().is_some());
        ctl(&db, &["service", "disable", "late"]);
        wait(
            "the disabled service is stopped and its lease released",
            || owner().is_none(),
            &output,
        );

        ctl(&db, &["service", "enable", "late"]);
        wait(
            "the re-enabled service is served again",
            || owner().is_some(),
            &output,
        );
        gift();
        wait(
            "the re-enabled service processes a new item",
            || completed(&db, "late") == 2,
            &output,
        );

        ctl(&db, &["service", "remove", "late"]);
        wait(
            "the removed service's runner stops",
            || w.output().contains("service late stopped"),
            &output,
        );
        assert!(
            w.output()
                .contains("✅ [Late] GiftEvent (P:10) completed in"),
            "{}",
            w.output()
        );

        let pid = w.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = w.child.wait().expect("wait");
        assert!(exit.success(), "{exit:?}\n{}", w.output());
    }
}
