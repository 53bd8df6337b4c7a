//! `ctl bench --fleet N`: several streamers at once, deployed as they would be. N simulated
//! LIVEs (distinct rooms and streamers) each play R messages per second to their own
//! `capture-daemon` process; all of them store into one database, where one no-op probe
//! service per streamer (scoped to it) is drained by one `worker-daemon` process. Sizes double
//! from 1 to N, stopping at the first that loses anything or whose lag p99 passes the target:
//! the largest size within the target is the fleet this machine and database carry.

use std::time::{Duration, Instant};

use anyhow::Context;
use core_models::schema::{event_queue as eq, live_events as le, services as sv};
use core_models::{with_conn, DbConn, DbUrl, EventType, QueueStatus};
use diesel::prelude::*;
use serde::Serialize;
use webcast_sim::{Simulator, SimulatorHandle};

use super::latency::{self, Daemons, Process};
use super::scratch::{add_noop_service, Scratch};

/// The lag p99 a fleet size must stay within.
pub const TARGET_P99_MS: f64 = 100.0;

/// One fleet size, measured.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRun {
    /// Simulated LIVEs (and capture daemons).
    pub lives: usize,
    /// Messages per second each LIVE played.
    pub rate_per_live: f64,
    pub seconds: u64,
    /// Events the probes processed, all LIVEs together.
    pub events: u64,
    pub events_per_sec: f64,
    /// The median LIVE's lag p50 (capture receipt → process_event).
    pub p50_ms: f64,
    /// The worst LIVE's lag p99.
    pub p99_ms: f64,
    /// Stored events whose probe item did not complete. (Every capture daemon must also stop
    /// cleanly, with nothing left in its spool, or the run fails.)
    pub lost: u64,
    /// Peak RSS of the largest capture daemon, and their mean.
    pub capture_peak_rss_mb_max: Option<f64>,
    pub capture_peak_rss_mb_mean: Option<f64>,
    pub worker_peak_rss_mb: Option<f64>,
}

impl FleetRun {
    /// Nothing lost and the p99 within [`TARGET_P99_MS`].
    pub fn within_target(&self) -> bool {
        self.lost == 0 && self.p99_ms <= TARGET_P99_MS
    }
}

/// Every size measured, and the largest within the target.
#[derive(Debug, Serialize)]
pub struct FleetReport {
    pub database: String,
    pub machine: String,
    pub target_p99_ms: f64,
    pub runs: Vec<FleetRun>,
    pub largest_within_target: Option<usize>,
}

/// Measures sizes 1, 2, 4, … up to `max_lives` (always including it), stopping after the
/// first that misses the target.
pub fn measure(
    daemons: &Daemons,
    base: &DbUrl,
    max_lives: usize,
    rate: f64,
    seconds: u64,
    say: impl Fn(&str),
) -> anyhow::Result<Vec<FleetRun>> {
    let mut runs = Vec::new();
    for lives in sizes(max_lives) {
        say(&format!(
            "fleet of {lives}: {lives} simulated LIVE(s) at {rate} msgs/s each for {seconds} s"
        ));
        let run = run_fleet(daemons, base, lives, rate, seconds)?;
        let missed = !run.within_target();
        runs.push(run);
        if missed {
            break;
        }
    }
    Ok(runs)
}

/// 1, 2, 4, … below `max`, then `max`.
fn sizes(max: usize) -> Vec<usize> {
    let max = max.max(1);
    let mut sizes: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2))
        .take_while(|&n| n < max)
        .collect();
    sizes.push(max);
    sizes
}

/// One LIVE of the fleet: its simulator, its capture daemon and its probe's slug.
struct Live {
    simulator: SimulatorHandle,
    capture: Process,
    probe: String,
}

fn run_fleet(
    daemons: &Daemons,
    base: &DbUrl,
    lives: usize,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<FleetRun> {
    let scratch = Scratch::new(base, "fleet")?;
    let logs = tempfile::Builder::new()
        .prefix("tiklive-fleet-logs-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let configs: Vec<_> = (0..lives).map(|i| live_config(i, rate)).collect();
    prepare_probes(&scratch, &configs)?;

    let http = latency::free_loopback_addr()?;
    let mut worker = latency::start_worker(daemons, &scratch, &[], http, logs.path())?;
    let mut fleet = Vec::with_capacity(lives);
    for (i, config) in configs.into_iter().enumerate() {
        let probe = probe_slug(&config.username);
        let simulator = runtime.block_on(Simulator::start(config))?;
        let capture = latency::start_capture(
            &format!("capture-{i}"),
            daemons,
            &scratch,
            &simulator,
            logs.path(),
        )?;
        fleet.push(Live {
            simulator,
            capture,
            probe,
        });
    }

    let mut conn = scratch.conn()?;
    wait_all_storing(&mut conn, lives, &mut fleet)?;
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        for live in &mut fleet {
            live.capture.check_running()?;
        }
        worker.check_running()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let rss: Vec<f64> = fleet
        .iter()
        .filter_map(|l| l.capture.peak_rss_mb())
        .collect();
    // A capture stopped on request stores what it received and exits 0; any other exit
    // means events were left behind (its spool), which the run reports as a failure.
    for (i, live) in fleet.iter_mut().enumerate() {
        let status = live.capture.stop();
        anyhow::ensure!(
            status.is_some_and(|s| s.success()),
            "capture daemon {i} did not stop cleanly ({status:?}): events may be left in its spool"
        );
    }
    wait_drained(&mut conn, &mut worker)?;
    let worker_rss = worker.peak_rss_mb();
    let stats = latency::http_get(http, "/api/stats").context("reading the worker's /api/stats")?;
    worker.stop();
    let probes: Vec<String> = fleet.iter().map(|l| l.probe.clone()).collect();
    for live in fleet {
        runtime.block_on(live.simulator.shutdown());
    }

    let lags = probe_lags(&stats, &probes)?;
    let events: u64 = lags.iter().map(|l| l.count).sum();
    Ok(FleetRun {
        lives,
        rate_per_live: rate,
        seconds,
        events,
        events_per_sec: events as f64 / seconds.max(1) as f64,
        p50_ms: median(lags.iter().map(|l| l.p50_ms).collect()),
        p99_ms: lags.iter().map(|l| l.p99_ms).fold(0.0, f64::max),
        lost: unprocessed(&mut conn)?,
        capture_peak_rss_mb_max: rss.iter().copied().reduce(f64::max),
        capture_peak_rss_mb_mean: (!rss.is_empty())
            .then(|| rss.iter().sum::<f64>() / rss.len() as f64),
        worker_peak_rss_mb: worker_rss,
    })
}

/// The i-th LIVE: its own room and streamer, the latency run's steady stream.
fn live_config(i: usize, rate: f64) -> webcast_sim::SimulatorConfig {
    let mut config = latency::steady_stream(rate);
    config.room_id = 7_300_000_000_000_000_000 + i as i64;
    config.username = format!("fleet_live_{i}");
    // Each LIVE its own stream, not the same one N times.
    if let Some(random) = &mut config.random {
        random.seed = Some(7 + i as u64);
    }
    config
}

fn probe_slug(streamer: &str) -> String {
    format!("probe_{streamer}")
}

/// Only the probes consume (the seeded services would just fill up), one per streamer.
fn prepare_probes(
    scratch: &Scratch,
    configs: &[webcast_sim::SimulatorConfig],
) -> anyhow::Result<()> {
    let mut conn = scratch.conn()?;
    with_conn!(&mut conn, |c| diesel::update(sv::table)
        .set(sv::is_active.eq(false))
        .execute(c))?;
    for config in configs {
        add_noop_service(
            &mut conn,
            &probe_slug(&config.username),
            &format!("fleet probe of @{}", config.username),
            EventType::INTERACTIVE,
            true,
            std::slice::from_ref(&config.username),
        )?;
    }
    Ok(())
}

/// Waits (bounded) until every LIVE's capture has stored something.
fn wait_all_storing(conn: &mut DbConn, lives: usize, fleet: &mut [Live]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let storing: i64 = with_conn!(conn, |c| le::table
            .select(diesel::dsl::count(le::streamer_unique_id).aggregate_distinct())
            .first(c))?;
        if usize::try_from(storing).unwrap_or(0) >= lives {
            return Ok(());
        }
        for live in fleet.iter_mut() {
            live.capture.check_running()?;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {storing} of {lives} capture daemons stored anything within a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until no probe item is pending or processing.
fn wait_drained(conn: &mut DbConn, worker: &mut Process) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 = with_conn!(conn, |c| eq::table
            .filter(eq::status.eq_any([QueueStatus::Pending, QueueStatus::Processing]))
            .count()
            .get_result(c))?;
        if open == 0 || Instant::now() > deadline {
            return Ok(());
        }
        worker.check_running()?;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stored interactive events without a completed probe item (each event has exactly one
/// probe: its streamer's).
fn unprocessed(conn: &mut DbConn) -> anyhow::Result<u64> {
    let interactive: i64 = with_conn!(conn, |c| le::table
        .filter(le::event_type.eq_any(EventType::INTERACTIVE.iter().map(|t| t.as_str())))
        .count()
        .get_result(c))?;
    let completed: i64 = with_conn!(conn, |c| eq::table
        .filter(eq::status.eq(QueueStatus::Completed))
        .count()
        .get_result(c))?;
    anyhow::ensure!(
        completed <= interactive,
        "{completed} probe items completed for {interactive} events: events reached the probes of other streamers"
    );
    Ok(u64::try_from(interactive - completed).unwrap_or(0))
}

/// One probe's lag histogram, from the worker's `/api/stats`.
struct Lag {
    count: u64,
    p50_ms: f64,
    p99_ms: f64,
}

fn probe_lags(stats: &str, probes: &[String]) -> anyhow::Result<Vec<Lag>> {
    let stats: serde_json::Value =
        serde_json::from_str(stats).context("the worker's /api/stats is not JSON")?;
    let all = stats.as_array().context("/api/stats is not a list")?;
    probes
        .iter()
        .map(|probe| {
            let lag = all
                .iter()
                .find(|s| s["slug"] == probe.as_str())
                .map(|s| &s["lag"])
                .filter(|l| !l.is_null())
                .with_context(|| format!("no event reached the probe {probe}"))?;
            Ok(Lag {
                count: lag["count"].as_u64().unwrap_or(0),
                p50_ms: lag["p50_ms"].as_f64().unwrap_or(f64::NAN),
                p99_ms: lag["p99_ms"].as_f64().unwrap_or(f64::NAN),
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The largest size within the target, if any.
pub fn largest_within_target(runs: &[FleetRun]) -> Option<usize> {
    runs.iter()
        .filter(|r| r.within_target())
        .map(|r| r.lives)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_up_to_the_maximum() {
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(6), vec![1, 2, 4, 6]);
        assert_eq!(sizes(8), vec![1, 2, 4, 8]);
        assert_eq!(sizes(0), vec![1]);
    }
}
