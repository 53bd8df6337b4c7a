//! `ctl demo`: the whole pipeline on this machine in one command. The built-in simulator plays
//! a lively LIVE; the capture path stores and dispatches it; the workers run DinoChrome and
//! Overlays and serve their pages. Everything runs in this process on one
//! [`Shutdown`](lifecycle::Shutdown).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use core_models::{seed, Db, DbConn, DbUrl, PoolOptions};
use dispatcher::{Engine, EngineError, QueueStats};
use lifecycle::{Shutdown, Trigger};
use webcast_sim::{Mix, RandomStream, Simulator, SimulatorConfig, SimulatorHandle};
use worker_daemon::daemon::Daemon;
use worker_daemon::http::{HttpError, HttpSettings};
use worker_daemon::{owner_id, WorkerConfig};

use crate::cli::DemoArgs;

/// Where the demo keeps its data unless --database-url is given: apart from a real setup's
/// `data/tiklive.sqlite3`, so trying the demo never mixes into real sessions.
pub const DEMO_DATABASE: &str = "data/demo.sqlite3";

/// Plays the demo until Ctrl+C, SIGTERM or the end of `--duration`: the database made
/// ready, the pages bound, then the LIVE, the capture and the workers on one signal.
pub fn play(given_url: Option<&str>, args: DemoArgs) -> anyhow::Result<()> {
    let url = DbUrl::resolve(Some(given_url.unwrap_or(DEMO_DATABASE)))?;
    let before = prepare_database(&url)?;
    let pages = Pages::bind(&args.http)?;
    let db = Db::connect(&url, PoolOptions::default())?;
    // A second signal exits at once (130): the leases and the spool make that safe.
    let (trigger, shutdown) =
        Shutdown::on_signals("ctl demo").context("cannot install the Ctrl+C handler")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let demo = Demo {
        summary: Summary {
            db: db.clone(),
            before,
        },
        url,
        db,
        args,
    };
    runtime.block_on(demo.play(pages, trigger, shutdown))
}

/// The schema and the original's two services, as `ctl migrate && ctl populate-initial-data`
/// would, with the demo's own touches (see [`demo_rules`]). Returns the latest event id: the
/// summary counts this run's events only (those after it), as the demo database keeps
/// earlier runs.
fn prepare_database(url: &DbUrl) -> anyhow::Result<i64> {
    let mut conn = DbConn::establish(url)?;
    conn.run_migrations().map_err(anyhow::Error::msg)?;
    seed::populate_initial_data(&mut conn)?;
    demo_rules(&mut conn)?;
    Engine::new(&mut conn)
        .latest_event_id()
        .context("cannot read the demo database")
}

/// What `ctl rule` and `ctl event-config` would set for a real stream (idempotent):
/// DinoChrome's gift rule takes a combo once, at its end (`--streak end`), so a 99-rose
/// combo is one jump, not 99 items queued behind each other; the overlay page hears of
/// comments a moderator deleted (`CommentDeletedEvent`), which leave its chat feed.
fn demo_rules(conn: &mut DbConn) -> anyhow::Result<()> {
    use core_models::rules::{self, RuleChanges};
    use core_models::services::{self, ConfigChanges};
    use core_models::{EventType, Priority, StreakPolicy};
    rules::set(
        conn,
        "dinochrome",
        EventType::Gift.as_str(),
        &RuleChanges {
            streak: Some(StreakPolicy::End),
            ..RuleChanges::default()
        },
    )?;
    services::set_config(
        conn,
        "overlays",
        EventType::CommentDeleted,
        ConfigChanges {
            priority: Some(Priority::new(9)?),
            is_async: Some(true),
            is_discardable: Some(false),
            is_enabled: Some(true),
        },
    )?;
    Ok(())
}

/// A LIVE's mix as real captures have it: mostly likes, comments and joins; gifts a few
/// percent of the events (a streakable gift's combo counts one event per step).
const LIVE_MIX: Mix = Mix {
    comment: 30,
    gift: 1,
    like: 40,
    join: 20,
    follow: 3,
    share: 1,
    subscribe: 1,
    viewers: 4,
};

/// The pages' server, bound before anything starts so that a taken port fails at once.
struct Pages {
    listener: TcpListener,
    http: HttpSettings,
    /// `http://ADDRESS`, for the banner.
    base: String,
}

impl Pages {
    fn bind(addr: &str) -> anyhow::Result<Pages> {
        let http = HttpSettings::new(addr, None)?
            .context("the demo needs its web pages: give --http an address")?;
        // The worker daemon's advice ('or --http off') does not apply: the demo is its pages.
        let listener = http.bind().map_err(|e| match e {
            HttpError::Bind { addr, source } => anyhow::anyhow!(
                "cannot listen on {addr}: {source} (another demo or worker-daemon? choose another address with --http, e.g. --http 127.0.0.1:8010)"
            ),
            e => e.into(),
        })?;
        let base = format!("http://{}", listener.local_addr()?);
        Ok(Pages {
            listener,
            http,
            base,
        })
    }
}

/// The demo, ready to play.
struct Demo {
    url: DbUrl,
    db: Db,
    args: DemoArgs,
    summary: Summary,
}

impl Demo {
    /// The LIVE, the workers and the capture on one signal; summary lines until it fires;
    /// then each stops in turn and the last line gives the whole run's average.
    async fn play(self, pages: Pages, trigger: Trigger, shutdown: Shutdown) -> anyhow::Result<()> {
        let simulator = self.start_simulator().await?;
        self.print_banner(&pages.base);
        let workers = self.spawn_workers(pages, &shutdown);
        let started = Mark {
            at: Instant::now(),
            events: 0,
        };
        let capture = self.spawn_capture(&simulator, &shutdown)?;
        if let Some(secs) = self.args.duration {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                trigger.trigger();
            });
        }
        self.summary.every_two_seconds(started, shutdown).await;
        let stopped = Instant::now();

        // The LIVE plays on until the capture has stored what it buffered and closed its
        // session, so the capture never sees it vanish while it drains.
        let captured = capture.await.context("the capture task failed")?;
        if let Err(e) = captured {
            eprintln!("capture ended with an error: {e}");
        }
        let _ = workers.await;
        simulator.shutdown().await;
        // The last line's rate is the whole run's average, over the time the LIVE played (not
        // the shutdown after it).
        self.summary.print_line(started, Some(stopped)).await;
        outln!(
            "\nDemo stopped. Its data stays in {}: try",
            self.url.masked()
        );
        outln!(
            "  cargo run -p ctl -- --database-url {} queue stats",
            self.url.as_arg()
        );
        Ok(())
    }

    /// A lively random LIVE, in a room of its own.
    async fn start_simulator(&self) -> anyhow::Result<SimulatorHandle> {
        Simulator::start(SimulatorConfig {
            room_id: fresh_room_id(),
            random: Some(RandomStream {
                rate_per_sec: self.args.rate,
                mix: LIVE_MIX,
                seed: None,
            }),
            max_messages_per_frame: 8,
            ..SimulatorConfig::default()
        })
        .await
        .context("cannot start the simulator")
    }

    fn print_banner(&self, base: &str) {
        outln!("tiklive demo: a simulated LIVE → capture → queues → workers → pages");
        outln!("  database:  {}", self.url.masked());
        outln!("  control:   {base}/   (the control room: dashboard, rules, queues, reports)");
        outln!("  overlays:  {base}/overlays   (OBS browser source, 1920×1080)");
        outln!("  dino game: {base}/dino");
        outln!("  stats:     {base}/api/stats");
        outln!("  Open the two pages (in a browser or as OBS browser sources): their items");
        outln!("  complete as the pages show them; until then they wait in the queues.");
        match self.args.duration {
            Some(d) => outln!("  running for {d} s (Ctrl+C stops earlier)\n"),
            None => outln!("  Ctrl+C stops\n"),
        }
    }

    /// The worker daemon with every active service (DinoChrome and Overlays) and the pages.
    fn spawn_workers(&self, pages: Pages, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
        let mut config = WorkerConfig::new(owner_id());
        config.stats_every = Duration::ZERO;
        // Items waiting for a page that nobody opened should not hold Ctrl+C up for long.
        config.shutdown_grace = Duration::from_secs(2);
        let daemon = Daemon {
            db: self.db.clone(),
            config: Arc::new(config),
            services: Vec::new(),
            http: Some((pages.listener, pages.http)),
        };
        tokio::spawn(daemon.serve(shutdown.clone()))
    }

    /// The capture path, quiet, on the simulated LIVE.
    fn spawn_capture(
        &self,
        simulator: &SimulatorHandle,
        shutdown: &Shutdown,
    ) -> anyhow::Result<tokio::task::JoinHandle<Result<(), capture_daemon::error::Fatal>>> {
        let args = super::simulated::capture_args(
            simulator,
            &self.url,
            &["--session-name", "demo", "--quiet"],
        )?;
        Ok(tokio::spawn(capture_daemon::capture_live(
            args,
            shutdown.clone(),
        )))
    }
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

/// The summary lines: this run's events and gifts, and each queue's state.
struct Summary {
    db: Db,
    /// The latest event id before this run.
    before: i64,
}

impl Summary {
    /// A line every two seconds until `shutdown` fires, each with the rate since the line
    /// before (the first since `started`).
    async fn every_two_seconds(&self, started: Mark, mut shutdown: Shutdown) {
        let mut last = started;
        while !shutdown.sleep(Duration::from_secs(2)).await {
            if let Some(now) = self.print_line(last, None).await {
                last = now;
            }
        }
    }

    /// One line: events/s since `since`, this run's events and gifts, and each queue's state.
    /// With `until` (the final line), the rate is the average from `since` to then. Returns
    /// the new mark, or `None` if the database did not answer (the line is skipped, and the
    /// next one's rate covers both windows).
    async fn print_line(&self, since: Mark, until: Option<Instant>) -> Option<Mark> {
        let (events, gifts, stats) = match self.read().await {
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
        let (per_sec, note) = match until {
            Some(at) => (rate(since, Mark { at, events }), " on average"),
            None => (rate(since, now), ""),
        };
        outln!(
            "{per_sec:>6.1} events/s{note} · {events} events · {gifts} gifts · {}",
            queue_states(&stats)
        );
        Some(now)
    }

    /// This run's events and gifts, and every queue's counts.
    async fn read(&self) -> Result<(i64, i64, Vec<QueueStats>), EngineError> {
        let before = self.before;
        self.db
            .run(move |conn| {
                let mut engine = Engine::new(conn);
                let tally = engine.events_since(before)?;
                let stats = engine.stats(None)?;
                Ok((tally.events, tally.gifts, stats))
            })
            .await
    }
}

/// `slug: N pending, N done, N failed, N dropped` for each queue.
fn queue_states(stats: &[QueueStats]) -> String {
    stats
        .iter()
        .map(|s| {
            format!(
                "{}: {} pending, {} done, {} failed, {} dropped",
                s.slug, s.pending, s.completed, s.failed, s.discarded
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
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
