//! `ctl demo`: the whole pipeline on this machine in one command. The built-in simulator plays
//! a lively LIVE; the capture path stores and dispatches it; the workers run DinoChrome and
//! Overlays and serve their pages. Everything runs in this process on one shutdown signal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use core_models::{seed, Db, DbConn, DbUrl, PoolOptions};
use dispatcher::Engine;
use tokio::sync::watch;
use webcast_sim::{Mix, RandomStream, Simulator, SimulatorConfig};
use worker_daemon::daemon::Daemon;
use worker_daemon::http::{HttpError, HttpSettings};
use worker_daemon::{owner_id, WorkerConfig};

use crate::cli::DemoArgs;

/// Where the demo keeps its data unless --database-url is given: apart from a real setup's
/// `data/tiklive.sqlite3`, so trying the demo never mixes into real sessions.
pub const DEMO_DATABASE: &str = "data/demo.sqlite3";

pub fn run(given_url: Option<&str>, args: DemoArgs) -> anyhow::Result<()> {
    let url = DbUrl::resolve(Some(given_url.unwrap_or(DEMO_DATABASE)))?;
    // The schema and the original's two services, as `ctl migrate && ctl
    // populate-initial-data` would. The summary counts this run's events only (those after
    // `before`): the demo database keeps earlier runs.
    let before: i64 = {
        let mut conn = DbConn::establish(&url)?;
        conn.run_migrations().map_err(anyhow::Error::msg)?;
        seed::populate_initial_data(&mut conn)?;
        Engine::new(&mut conn)
            .latest_event_id()
            .context("cannot read the demo database")?
    };
    let http = HttpSettings::new(&args.http, None)?
        .context("the demo needs its web pages: give --http an address")?;
    // The worker daemon's advice ('or --http off') does not apply: the demo is its pages.
    let listener = http.bind().map_err(|e| match e {
        HttpError::Bind { addr, source } => anyhow::anyhow!(
            "cannot listen on {addr}: {source} (another demo or worker-daemon? choose another address with --http, e.g. --http 127.0.0.1:8010)"
        ),
        e => e.into(),
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    let db = Db::connect(&url, PoolOptions::default())?;

    let (stop_tx, stop) = watch::channel(false);
    let on_signal = stop_tx.clone();
    ctrlc::set_handler(move || {
        let _ = on_signal.send(true);
    })
    .context("cannot install the Ctrl+C handler")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let simulator = Simulator::start(SimulatorConfig {
            room_id: fresh_room_id(),
            random: Some(RandomStream {
                rate_per_sec: args.rate,
                mix: Mix::default(),
                seed: None,
            }),
            max_messages_per_frame: 8,
            ..SimulatorConfig::default()
        })
        .await
        .context("cannot start the simulator")?;

        outln!("tiklive demo: a simulated LIVE → capture → queues → workers → pages");
        outln!("  database:  {}", url.masked());
        outln!("  overlays:  {base}/overlays   (OBS browser source, 1920×1080)");
        outln!("  dino game: {base}/dino");
        outln!("  stats:     {base}/api/stats");
        outln!("  Open the two pages (in a browser or as OBS browser sources): their items");
        outln!("  complete as the pages show them; until then they wait in the queues.");
        match args.duration {
            Some(d) => outln!("  running for {d} s (Ctrl+C stops earlier)\n"),
            None => outln!("  Ctrl+C stops\n"),
        }

        let mut config = WorkerConfig::new(owner_id());
        config.stats_every = Duration::ZERO;
        // Items waiting for a page that nobody opened should not hold Ctrl+C up for long.
        config.shutdown_grace = Duration::from_secs(2);
        let workers = tokio::spawn(
            Daemon {
                db: db.clone(),
                config: Arc::new(config),
                services: Vec::new(),
                http: Some((listener, http)),
            }
            .serve(lifecycle::Shutdown::from_watch(stop.clone())),
        );

        let started = Mark {
            at: Instant::now(),
            events: 0,
        };
        let capture_args = super::simulated::capture_args(
            &simulator,
            &url,
            &["--session-name", "demo", "--quiet"],
        )?;
        let capture = tokio::spawn(capture_daemon::capture::run(
            capture_args,
            lifecycle::Shutdown::from_watch(stop.clone()),
        ));

        if let Some(secs) = args.duration {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let _ = stop_tx.send(true);
            });
        }
        summarise(&db, before, started, stop.clone()).await;
        let stopped = Instant::now();

        let captured = capture.await.context("the capture task failed")?;
        if let Err(e) = captured {
            eprintln!("capture ended with an error: {e}");
        }
        let _ = workers.await;
        simulator.shutdown().await;
        // The last line's rate is the whole run's average, over the time the LIVE played (not
        // the shutdown after it).
        print_line(&db, before, started, Some(stopped)).await;
        outln!("\nDemo stopped. Its data stays in {}: try", url.masked());
        outln!(
            "  cargo run -p ctl -- --database-url {} queue stats",
            url.as_arg()
        );
        anyhow::Ok(())
    })
}

/// A room id of its own for each run. The capture stores a (room, msg_id) once only, and the
/// simulator numbers its messages the same way every run: in the room of an earlier run, a
/// second demo on the same database would capture nothing.
fn fresh_room_id() -> i64 {
    let base = SimulatorConfig::default().room_id;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    base + millis
}

/// A point the next summary line's rate is measured from.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    /// This run's events so far.
    events: i64,
}

/// Prints a summary line every two seconds until `stop`, each with the rate since the line
/// before (the first since `started`).
async fn summarise(db: &Db, before: i64, started: Mark, mut stop: watch::Receiver<bool>) {
    let mut last = started;
    loop {
        if tokio::time::timeout(Duration::from_secs(2), stop.wait_for(|s| *s))
            .await
            .is_ok()
        {
            return;
        }
        if let Some(now) = print_line(db, before, last, None).await {
            last = now;
        }
    }
}

/// One summary line: events/s since `since`, this run's events (those after id `before`) and
/// gifts, and each queue's state. With `until` (the final line), the rate is the average from
/// `since` to then. Returns the new mark, or `None` if the database did not answer (the line
/// is skipped, and the next one's rate covers both windows).
async fn print_line(db: &Db, before: i64, since: Mark, until: Option<Instant>) -> Option<Mark> {
    let read = db
        .run(move |conn| {
            let mut engine = Engine::new(conn);
            let tally = engine.events_since(before)?;
            let stats = engine.stats(None)?;
            Ok::<_, dispatcher::EngineError>((tally.events, tally.gifts, stats))
        })
        .await;
    let (events, gifts, stats) = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("(cannot read the summary: {e})");
            return None;
        }
    };
    let now = Mark {
        at: Instant::now(),
        events,
    };
    let queues: Vec<String> = stats
        .iter()
        .map(|s| {
            format!(
                "{}: {} pending, {} done, {} failed, {} dropped",
                s.slug, s.pending, s.completed, s.failed, s.discarded
            )
        })
        .collect();
    let (per_sec, note) = match until {
        Some(at) => (rate(since, Mark { at, events }), " on average"),
        None => (rate(since, now), ""),
    };
    outln!(
        "{per_sec:>6.1} events/s{note} · {events} events · {gifts} gifts · {}",
        queues.join(" · ")
    );
    Some(now)
}

/// Events per second between two marks.
fn rate(from: Mark, to: Mark) -> f64 {
    let secs = to.at.duration_since(from.at).as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    (to.events - from.events) as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_events_over_the_window() {
        let start = Instant::now();
        let from = Mark {
            at: start,
            events: 10,
        };
        let to = Mark {
            at: start + Duration::from_millis(2500),
            events: 85,
        };
        assert!((rate(from, to) - 30.0).abs() < 1e-9);
        // No time passed: no rate rather than a division by zero.
        assert_eq!(rate(from, from), 0.0);
    }
}
