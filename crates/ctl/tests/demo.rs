//! `ctl demo` as a user runs it: the simulated LIVE goes through capture, the queues and the
//! workers to the browser-source pages. The overlay test watches a gift alert that took that
//! whole path appear in headless Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_models::schema::live_events as le;
use core_models::{with_conn, DbConn, DbUrl, EventType};
use diesel::prelude::*;
use dispatcher::Engine;
use test_support::browser::{screenshot_path, Browser};

struct Demo {
    child: Child,
    overlays: String,
    dino: String,
    db: DbUrl,
    /// Every line the demo printed so far.
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The summary lines printed so far.
    fn summaries(&self) -> Vec<Summary> {
        self.output()
            .iter()
            .filter_map(|l| Summary::parse(l))
            .collect()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
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
    let lines = Arc::new(Mutex::new(Vec::new()));
    // Keep reading, so the demo never blocks on a full pipe, and keep every line.
    std::thread::spawn({
        let lines = lines.clone();
        move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        }
    });
    let mut demo = Demo {
        child,
        overlays: String::new(),
        dino: String::new(),
        db: DbUrl::resolve(Some(db_path.to_str().unwrap())).unwrap(),
        lines,
        _dir: dir,
    };
    let url_of = |lines: &[String], label: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let lines = demo.output();
        if let (Some(o), Some(d)) = (url_of(&lines, "overlays:"), url_of(&lines, "dino game:")) {
            (demo.overlays, demo.dino) = (o, d);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no page URLs printed: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both pages on the one address the demo serves.
    let base = demo.overlays.trim_end_matches("/overlays").to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && demo.overlays == format!("{base}/overlays"),
        "{}",
        demo.overlays
    );
    assert_eq!(demo.dino, format!("{base}/dino"));
    demo
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

/// One summary line: `R events/s[ on average] · N events · G gifts · slug: P pending, D done,
/// F failed, X dropped · …`.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    rate: f64,
    average: bool,
    events: i64,
    gifts: i64,
    /// (slug, [pending, done, failed, dropped]), in the printed order.
    queues: Vec<(String, [i64; 4])>,
}

impl Summary {
    fn parse(line: &str) -> Option<Summary> {
        let mut parts = line.trim().split(" · ");
        let head = parts.next()?;
        let (rate, rest) = head.split_once(" events/s")?;
        let number = |text: &str, unit: &str| -> Option<i64> {
            text.strip_suffix(unit)?.trim().parse().ok()
        };
        let events = number(parts.next()?, " events")?;
        let gifts = number(parts.next()?, " gifts")?;
        let queues = parts
            .map(|q| {
                let (slug, counts) = q.split_once(": ")?;
                let mut n = [0; 4];
                for (i, (c, unit)) in counts
                    .split(", ")
                    .zip([" pending", " done", " failed", " dropped"])
                    .enumerate()
                {
                    n[i] = number(c, unit)?;
                }
                Some((slug.to_owned(), n))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Summary {
            rate: rate.trim().parse().ok()?,
            average: match rest {
                "" => false,
                " on average" => true,
                _ => return None,
            },
            events,
            gifts,
            queues,
        })
    }
}

/// Whether `rate` is `events` over about `secs` (windows run a little long: the database
/// read, a busy machine).
fn close_to(rate: f64, events: i64, secs: f64) -> bool {
    let expected = events as f64 / secs;
    rate <= expected * 1.15 + 0.5 && rate >= events as f64 / (secs * 1.6) - 0.5
}

#[test]
fn summary_lines_are_parsed() {
    let line = "  30.5 events/s · 61 events · 20 gifts · dinochrome: 10 pending, 1 done, \
                2 failed, 3 dropped · overlays: 4 pending, 5 done, 6 failed, 7 dropped";
    assert_eq!(
        Summary::parse(line),
        Some(Summary {
            rate: 30.5,
            average: false,
            events: 61,
            gifts: 20,
            queues: vec![
                ("dinochrome".into(), [10, 1, 2, 3]),
                ("overlays".into(), [4, 5, 6, 7])
            ],
        })
    );
    let last = Summary::parse("   1.0 events/s on average · 6 events · 0 gifts · o: 0 pending, 0 done, 0 failed, 0 dropped");
    assert!(last.is_some_and(|s| s.average));
    assert_eq!(Summary::parse("  dino game: http://127.0.0.1:1/dino"), None);
}

#[test]
fn the_demo_runs_the_whole_pipeline_and_stops_by_itself() {
    let mut demo = start_demo(&["--duration", "6", "--rate", "100"]);
    assert_eq!(wait_exit(&mut demo.child, Duration::from_secs(90)), Some(0));
    let mut conn = DbConn::establish(&demo.db).unwrap();
    let stats = Engine::new(&mut conn).stats(None).unwrap();
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

    // The summary: a line every 2 s with the rate over its own window, then the run's
    // average, each with this run's events and gifts and every service's queue.
    let output = demo.output();
    let summaries = demo.summaries();
    let (last, live) = summaries.split_last().expect("summary lines");
    assert!(live.len() >= 2, "{output:#?}");
    assert!(
        last.average && live.iter().all(|s| !s.average),
        "{output:#?}"
    );
    let mut before = 0;
    for s in live {
        assert!(
            close_to(s.rate, s.events - before, 2.0),
            "{s:?} after {before} events\n{output:#?}"
        );
        before = s.events;
        let names: Vec<&str> = s.queues.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(names, ["dinochrome", "overlays"], "{output:#?}");
    }
    assert!(
        live.iter().any(|s| s.rate > 0.0),
        "no events/s: {output:#?}"
    );
    let (events, gifts) = with_conn!(&mut conn, |c| {
        let events: i64 = le::table.count().get_result(c).unwrap();
        let gifts: i64 = le::table
            .filter(le::event_type.eq(EventType::Gift))
            .count()
            .get_result(c)
            .unwrap();
        (events, gifts)
    });
    assert_eq!((last.events, last.gifts), (events, gifts), "{output:#?}");
    // Gifts are a few percent of a real LIVE's events: 600 events have some.
    assert!(gifts > 0, "a lively LIVE has gifts: {output:#?}");
    assert!(
        gifts * 100 < events * 15,
        "gifts {gifts} of {events} events"
    );
    // DinoChrome takes each combo once, at its end: no gift item of a combo step before it.
    let dino_gift_steps: Vec<Option<String>> = with_conn!(&mut conn, |c| {
        use core_models::schema::{event_queue as eq, services as sv};
        eq::table
            .inner_join(le::table)
            .inner_join(sv::table)
            .filter(sv::slug.eq("dinochrome"))
            .filter(le::event_type.eq(EventType::Gift))
            .select(le::streak_status)
            .load::<Option<core_models::StreakStatus>>(c)
            .unwrap()
            .into_iter()
            .map(|s| s.map(|s| s.to_string()))
            .collect()
    });
    assert!(
        dino_gift_steps
            .iter()
            .all(|s| matches!(s.as_deref(), None | Some("end"))),
        "{dino_gift_steps:?}"
    );
    assert!(close_to(last.rate, events, 6.0), "{last:?}\n{output:#?}");
    let queues: Vec<(String, [i64; 4])> = stats
        .iter()
        .map(|s| {
            (
                s.slug.clone(),
                [s.pending, s.completed, s.failed, s.discarded],
            )
        })
        .collect();
    assert_eq!(last.queues, queues, "{output:#?}");
    assert!(
        output.iter().any(|l| l.starts_with("Demo stopped.")),
        "{output:#?}"
    );
}

#[test]
fn a_second_run_on_the_same_database_is_a_new_live_and_counts_its_own_events() {
    let mut first = start_demo(&["--duration", "3", "--rate", "30"]);
    assert_eq!(
        wait_exit(&mut first.child, Duration::from_secs(90)),
        Some(0)
    );
    let before = first.summaries().pop().expect("a summary").events;
    assert!(before > 0, "{:#?}", first.output());

    // Again on the first run's database, as `cargo run -p ctl -- demo` twice does.
    let second = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args([
            "--database-url",
            first.db.as_arg(),
            "demo",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--duration", "3", "--rate", "30"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run ctl demo again");
    assert!(second.status.success());
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    let last = stdout
        .lines()
        .rev()
        .find_map(Summary::parse)
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    assert!(last.average, "{stdout}");

    let mut conn = DbConn::establish(&first.db).unwrap();
    let total: i64 = with_conn!(&mut conn, |c| le::table.count().get_result(c).unwrap());
    let sessions = core_models::sessions::list(&mut conn, 10).unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions.iter().all(|s| s.total_events > 0),
        "a run captured nothing: {sessions:?}"
    );
    // Its own events only, not the first run's too.
    assert_eq!(last.events, total - before, "{stdout}");
}

#[test]
fn ctrl_c_stops_the_demo_cleanly() {
    let mut demo = start_demo(&["--rate", "30"]);
    // Running: events flow, and the pages' items wait in flight for a page nobody opened.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !demo.summaries().iter().any(|s| s.events > 0) {
        assert!(
            Instant::now() < deadline,
            "no events captured: {:#?}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    demo.signal("-INT");
    assert_eq!(
        wait_exit(&mut demo.child, Duration::from_secs(60)),
        Some(0),
        "{:#?}",
        demo.output()
    );
    let output = demo.output();
    let last = demo.summaries().pop().unwrap();
    assert!(last.average && last.events > 0, "{output:#?}");
    assert!(
        output.iter().any(|l| l.starts_with("Demo stopped.")),
        "{output:#?}"
    );

    let mut conn = DbConn::establish(&demo.db).unwrap();
    let stats = Engine::new(&mut conn).stats(None).unwrap();
    assert_eq!(stats.len(), 2);
    for s in &stats {
        assert_eq!(s.processing, 0, "left processing after Ctrl+C: {s:?}");
        assert!(
            s.pending + s.completed + s.failed + s.discarded > 0,
            "{s:?}"
        );
    }
    let sessions = core_models::sessions::list(&mut conn, 10).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].status, core_models::SessionStatus::Completed);
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
        let overlays = Engine::new(&mut conn)
            .stats(None)
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
