//! `ctl demo` as a user runs it: the simulated LIVE goes through capture, the queues and the
//! workers to the browser-source pages. The overlay test watches a gift alert that took that
//! whole path appear in headless Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use core_models::{queue_view, DbConn, DbUrl};
use test_support::browser::{screenshot_path, Browser};

struct Demo {
    child: Child,
    overlays: String,
    dino: String,
    db: DbUrl,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the demo on a fresh SQLite file and a free port; returns once it printed its URLs.
fn start_demo(extra: &[&str]) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("demo.sqlite3");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args([
            "--database-url",
            db_path.to_str().unwrap(),
            "demo",
            "--http",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl demo");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut overlays, mut dino) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://"));
        if line.trim_start().starts_with("overlays:") {
            overlays = url.unwrap().to_owned();
        }
        if line.trim_start().starts_with("dino game:") {
            dino = url.unwrap().to_owned();
        }
        if !overlays.is_empty() && !dino.is_empty() {
            break;
        }
    }
    assert!(overlays.ends_with("/overlays"), "no overlays URL printed");
    // Keep reading so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Demo {
        child,
        overlays,
        dino,
        db: DbUrl::resolve(Some(db_path.to_str().unwrap())).unwrap(),
        _dir: dir,
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn the_demo_runs_the_whole_pipeline_and_stops_by_itself() {
    let mut demo = start_demo(&["--duration", "6", "--rate", "30"]);
    assert_eq!(wait_exit(&mut demo.child, Duration::from_secs(90)), Some(0));
    let mut conn = DbConn::establish(&demo.db).unwrap();
    let stats = queue_view::stats(&mut conn, None).unwrap();
    let slugs: Vec<&str> = stats.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(slugs, ["dinochrome", "overlays"]);
    for s in &stats {
        let rows = s.pending + s.processing + s.completed + s.failed + s.discarded;
        assert!(rows > 0, "nothing reached {}: {s:?}", s.slug);
        assert_eq!(
            s.processing, 0,
            "left processing after the demo stopped: {s:?}"
        );
    }
    let sessions = core_models::sessions::list(&mut conn, 10).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].status, core_models::SessionStatus::Completed);
    assert!(sessions[0].total_events > 0);
}

#[test]
fn a_gift_goes_from_the_simulated_live_to_the_overlay_page() {
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    let mut demo = start_demo(&["--duration", "120", "--rate", "30"]);
    browser.open(&demo.overlays);
    browser.wait_for(
        Duration::from_secs(60),
        "a gift alert on the overlay page",
        "document.querySelector('#alerts .alert.gift') !== null",
    );
    let alert = browser.eval("document.querySelector('#alerts .alert.gift').textContent");
    assert!(
        alert.as_str().is_some_and(|t| !t.trim().is_empty()),
        "{alert}"
    );
    browser.screenshot(&screenshot_path("demo-overlays.png"));

    // The alert's queue item is completed in the database: the page received it.
    let mut conn = DbConn::establish(&demo.db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let overlays = queue_view::stats(&mut conn, None)
            .unwrap()
            .into_iter()
            .find(|s| s.slug == "overlays")
            .unwrap();
        if overlays.completed > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no overlays item completed: {overlays:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    browser.open(&demo.dino);
    browser.wait_for(
        Duration::from_secs(60),
        "the dino page acting on an event",
        "Number(document.body.dataset.acked || 0) > 0",
    );
    browser.screenshot(&screenshot_path("demo-dino.png"));
    assert!(browser.dialogs().is_empty());

    let status = Command::new("kill")
        .args(["-TERM", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut demo.child, Duration::from_secs(60)), Some(0));
}
