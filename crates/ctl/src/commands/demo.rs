//! `ctl demo`: the whole pipeline on this machine in one command. The built-in simulator plays
//! a lively LIVE; the capture path stores and dispatches it; the workers run DinoChrome and
//! Overlays and serve their pages. Everything runs in this process on one shutdown signal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use core_models::schema::live_events as le;
use core_models::{queue_view, seed, with_conn, Db, DbConn, DbUrl, EventType, PoolOptions};
use diesel::prelude::*;
use tokio::sync::watch;
use webcast::simulator::{Mix, RandomStream};
use webcast::{Simulator, SimulatorConfig};
use worker_daemon::daemon::{self, Daemon};
use worker_daemon::http::HttpSettings;
use worker_daemon::{owner_id, WorkerConfig};

use crate::cli::DemoArgs;

/// Where the demo keeps its data unless --database-url is given: apart from a real setup's
/// `data/tiklive.sqlite3`, so trying the demo never mixes into real sessions.
pub const DEMO_DATABASE: &str = "data/demo.sqlite3";

pub fn run(given_url: Option<&str>, args: DemoArgs) -> anyhow::Result<()> {
    let url = DbUrl::resolve(Some(given_url.unwrap_or(DEMO_DATABASE)))?;
    // The schema and the original's two services, as `ctl migrate && ctl
    // populate-initial-data` would.
    {
        let mut conn = DbConn::establish(&url)?;
        conn.run_migrations().map_err(anyhow::Error::msg)?;
        seed::populate_initial_data(&mut conn)?;
    }
    let http = HttpSettings::new(&args.http, None)?
        .context("the demo needs its web pages: give --http an address")?;
    let listener = http.bind()?;
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

        println!("tiklive demo: a simulated LIVE → capture → queues → workers → pages");
        println!("  database:  {}", url.masked());
        println!("  overlays:  {base}/overlays   (OBS browser source, 1920×1080)");
        println!("  dino game: {base}/dino");
        println!("  stats:     {base}/api/stats");
        println!("  Open the two pages (in a browser or as OBS browser sources): their items");
        println!("  complete as the pages show them; until then they wait in the queues.");
        match args.duration {
            Some(d) => println!("  running for {d} s (Ctrl+C stops earlier)\n"),
            None => println!("  Ctrl+C stops\n"),
        }

        let mut config = WorkerConfig::new(owner_id());
        config.stats_every = Duration::ZERO;
        // Items waiting for a page that nobody opened should not hold Ctrl+C up for long.
        config.shutdown_grace = Duration::from_secs(2);
        let workers = tokio::spawn(daemon::run(
            Daemon {
                db: db.clone(),
                config: Arc::new(config),
                services: Vec::new(),
                http: Some((listener, http)),
            },
            stop.clone(),
        ));

        let capture_args = super::simulated::capture_args(
            &simulator,
            &url,
            &["--session-name", "demo", "--quiet"],
        )?;
        let capture = tokio::spawn(capture_daemon::capture::run(
            capture_args,
            capture_daemon::capture::Shutdown::from_receiver(stop.clone()),
        ));

        if let Some(secs) = args.duration {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let _ = stop_tx.send(true);
            });
        }
        summarise(&db, stop.clone()).await;

        let captured = capture.await.context("the capture task failed")?;
        if let Err(e) = captured {
            eprintln!("capture ended with an error: {e}");
        }
        let _ = workers.await;
        simulator.shutdown().await;
        print_line(&db, None).await;
        println!("\nDemo stopped. Its data stays in {}: try", url.masked());
        println!(
            "  cargo run -p ctl -- --database-url {} queue stats",
            url.as_arg()
        );
        anyhow::Ok(())
    })
}

/// Prints a summary line every two seconds until `stop`.
async fn summarise(db: &Db, mut stop: watch::Receiver<bool>) {
    let mut last: Option<(Instant, i64)> = None;
    loop {
        if tokio::time::timeout(Duration::from_secs(2), stop.wait_for(|s| *s))
            .await
            .is_ok()
        {
            return;
        }
        last = print_line(db, last).await;
    }
}

/// One summary line: events/s since the last line, gifts, and each queue's state.
async fn print_line(db: &Db, last: Option<(Instant, i64)>) -> Option<(Instant, i64)> {
    let read = db
        .run(|conn| {
            let (events, gifts): (i64, i64) = with_conn!(conn, |c| {
                let events = le::table.count().get_result::<i64>(c)?;
                let gifts = le::table
                    .filter(le::event_type.eq(EventType::Gift))
                    .count()
                    .get_result::<i64>(c)?;
                Ok::<_, diesel::result::Error>((events, gifts))
            })?;
            let stats = queue_view::stats(conn, None)?;
            Ok::<_, core_models::ModelError>((events, gifts, stats))
        })
        .await;
    let (events, gifts, stats) = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("(cannot read the summary: {e})");
            return last;
        }
    };
    let now = Instant::now();
    let rate = last.map_or(0.0, |(t, n)| {
        (events - n) as f64 / now.duration_since(t).as_secs_f64().max(0.001)
    });
    let queues: Vec<String> = stats
        .iter()
        .map(|s| {
            format!(
                "{}: {} pending, {} done, {} failed, {} dropped",
                s.slug, s.pending, s.completed, s.failed, s.discarded
            )
        })
        .collect();
    println!(
        "{:>6.1} events/s · {events} events · {gifts} gifts · {}",
        rate,
        queues.join(" · ")
    );
    Some((now, events))
}
