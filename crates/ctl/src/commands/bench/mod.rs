//! `ctl bench`: the performance figures of DESIGN §9, measured on this machine.
//!
//! Every part runs in its own scratch database (see [`scratch`]), never in the user's.

mod drain;
mod fleet;
mod ingest;
mod latency;
mod pending;
mod scratch;

use std::time::Duration;

use capture_daemon::committer::GROUP_MAX_EVENTS;
use core_models::{CapturedEvent, DbUrl};
use dispatcher::workload;
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::output::{self, Table};
use drain::DrainResult;
use ingest::IngestResult;
use latency::LatencyResult;
use pending::PendingResult;
use scratch::Scratch;

/// Everything one `ctl bench` run measured.
#[derive(Debug, Serialize)]
struct Report {
    database: String,
    machine: String,
    events: usize,
    per_frame: usize,
    ingest_unbounded: IngestResult,
    ingest_original_limits: IngestResult,
    plain_inserts: IngestResult,
    ingest_percent_of_plain: f64,
    /// 20 rules per service, with conditions and cooldowns, queues unbounded.
    ingest_rules: IngestResult,
    /// `ingest_rules` as a percentage of `ingest_unbounded` (the seed's configs only).
    rules_percent_of_no_rules: f64,
    pending_size: PendingResult,
    drain: Vec<DrainResult>,
    latency: Option<LatencyResult>,
}

/// Measures everything, each part in its own scratch database, and prints the report (a
/// table, or JSON with `--json`).
pub fn measure(url: &DbUrl, args: BenchArgs) -> anyhow::Result<()> {
    if let Some(lives) = args.fleet {
        return measure_fleet(url, &args, usize::from(lives));
    }
    let report = Bench::new(url, &args).measure()?;
    if args.output.json {
        return output::json(&report);
    }
    report.print();
    Ok(())
}

/// `ctl bench --fleet N`: the fleet sizes, as a table or JSON.
fn measure_fleet(url: &DbUrl, args: &BenchArgs, lives: usize) -> anyhow::Result<()> {
    let daemons = latency::Daemons::locate()?;
    let json = args.output.json;
    let runs = fleet::measure(&daemons, url, lives, args.rate, args.fleet_secs, |what| {
        if !json {
            eprintln!("… {what}");
        }
    })?;
    let report = fleet::FleetReport {
        database: database_name(url),
        machine: machine(),
        target_p99_ms: fleet::TARGET_P99_MS,
        largest_within_target: fleet::largest_within_target(&runs),
        runs,
    };
    if json {
        return output::json(&report);
    }
    outln!("{} · {}", report.database, report.machine);
    let mut t = Table::new(&[
        "LIVES",
        "MSGS/S EACH",
        "EVENTS/S",
        "LAG P50",
        "LAG P99",
        "LOST",
        "CAPTURE RSS",
        "WORKER RSS",
    ]);
    let mb = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} MB"));
    for r in &report.runs {
        t.row(vec![
            r.lives.to_string(),
            format!("{:.0}", r.rate_per_live),
            format!("{:.0}", r.events_per_sec),
            format!("{:.1} ms", r.p50_ms),
            format!("{:.1} ms", r.p99_ms),
            r.lost.to_string(),
            format!(
                "{} (mean {})",
                mb(r.capture_peak_rss_mb_max),
                mb(r.capture_peak_rss_mb_mean)
            ),
            mb(r.worker_peak_rss_mb),
        ]);
    }
    t.print("");
    match report.largest_within_target {
        Some(n) => outln!(
            "largest fleet within a {:.0} ms lag p99 with nothing lost: {n} LIVE(s) at {} msgs/s each",
            report.target_p99_ms,
            args.rate
        ),
        None => outln!(
            "no fleet size stayed within a {:.0} ms lag p99 with nothing lost",
            report.target_p99_ms
        ),
    }
    Ok(())
}

/// The database a run measured, for the report's first line.
fn database_name(url: &DbUrl) -> String {
    match url.backend() {
        core_models::Backend::Sqlite => "SQLite (temporary file)".into(),
        core_models::Backend::Mysql => {
            format!("MySQL/MariaDB at {} (scratch database)", url.masked())
        }
    }
}

/// One benchmark run: its settings, and the workload every ingest measure shares.
struct Bench<'a> {
    url: &'a DbUrl,
    args: &'a BenchArgs,
    /// The overload mix, the same for every run (seeded).
    events: Vec<CapturedEvent>,
    per_frame: usize,
}

impl<'a> Bench<'a> {
    fn new(url: &'a DbUrl, args: &'a BenchArgs) -> Bench<'a> {
        Bench {
            url,
            args,
            events: workload::burst(args.events, workload::OVERLOAD_MIX, 42, 1),
            per_frame: args.per_frame.max(1),
        }
    }

    /// Progress on stderr, unless the report is JSON.
    fn say(&self, what: &str) {
        if !self.args.output.json {
            eprintln!("… {what}");
        }
    }

    /// The measures, in order: ingest (unbounded, original limits, plain INSERTs), the
    /// pending size, the drain (SYNC, ASYNC), the end-to-end latency.
    fn measure(&self) -> anyhow::Result<Report> {
        // Found before the long runs start, so a missing build fails at once.
        let daemons = if self.args.latency_secs == 0 {
            None
        } else {
            Some(latency::Daemons::locate()?)
        };
        let (unbounded, original, plain) = self.ingest()?;
        let rules = self.ingest_with_rules()?;
        let pending_size = self.pending_size()?;
        let drain = self.drain()?;
        let latency = match &daemons {
            None => None,
            Some(daemons) => Some(self.latency(daemons)?),
        };
        Ok(Report {
            database: database_name(self.url),
            machine: machine(),
            events: self.args.events,
            per_frame: self.per_frame,
            ingest_percent_of_plain: 100.0 * unbounded.events_per_sec
                / plain.events_per_sec.max(1e-9),
            rules_percent_of_no_rules: 100.0 * rules.events_per_sec
                / unbounded.events_per_sec.max(1e-9),
            ingest_rules: rules,
            ingest_unbounded: unbounded,
            ingest_original_limits: original,
            plain_inserts: plain,
            pending_size,
            drain,
            latency,
        })
    }

    /// The capture's committer with room for everything, then with the original's queue
    /// limits, then the physical limit: the same rows with plain INSERTs.
    fn ingest(&self) -> anyhow::Result<(IngestResult, IngestResult, IngestResult)> {
        let (events, per_frame) = (&self.events, self.per_frame);
        self.say("ingest with room for everything");
        let unbounded = ingest::through_committer(
            &Scratch::new(self.url, "ingest")?,
            events,
            per_frame,
            Some(10_000_000),
        )?;
        self.say("ingest with the original's queue sizes (50/100)");
        let original =
            ingest::through_committer(&Scratch::new(self.url, "limits")?, events, per_frame, None)?;
        self.say("the same rows with plain multi-row INSERTs");
        let plain = ingest::plain_inserts(&Scratch::new(self.url, "plain")?, events, per_frame)?;
        Ok((unbounded, original, plain))
    }

    /// The unbounded ingest again, with 20 rules per service (conditions and cooldowns).
    fn ingest_with_rules(&self) -> anyhow::Result<IngestResult> {
        self.say(&format!(
            "ingest with {} rules per service (conditions, cooldowns)",
            scratch::RULES_PER_SERVICE
        ));
        let scratch = Scratch::new(self.url, "rules")?;
        scratch::add_bench_rules(&mut scratch.conn()?)?;
        ingest::through_committer(&scratch, &self.events, self.per_frame, Some(10_000_000))
    }

    fn pending_size(&self) -> anyhow::Result<PendingResult> {
        self.say(&format!(
            "pending size of a queue with {} items: bounded count vs COUNT(*)",
            self.args.pending_items
        ));
        pending::measure(self.url, self.args.pending_items)
    }

    /// The worker's runner on a full queue, SYNC then ASYNC.
    fn drain(&self) -> anyhow::Result<Vec<DrainResult>> {
        self.say("drain, SYNC");
        let sync_mode = drain::measure(self.url, self.args.drain_items, false)?;
        self.say("drain, ASYNC");
        let async_mode = drain::measure(self.url, self.args.drain_items, true)?;
        Ok(vec![sync_mode, async_mode])
    }

    fn latency(&self, daemons: &latency::Daemons) -> anyhow::Result<LatencyResult> {
        self.say(&format!(
            "end-to-end latency: simulator at {} msgs/s for {} s → capture-daemon → worker-daemon",
            self.args.latency_rate, self.args.latency_secs
        ));
        latency::measure(
            daemons,
            self.url,
            self.args.latency_rate,
            self.args.latency_secs,
            self.args.dashboard,
        )
    }
}

impl Report {
    /// The report as a table, after a line on the machine and one on the workload.
    fn print(&self) {
        outln!("{} · {}", self.database, self.machine);
        outln!(
            "{} events of the overload mix, {} per frame, handed to the capture store as a burst (frames queued during a commit go in the next one, up to {} events)",
            self.events, self.per_frame, GROUP_MAX_EVENTS
        );
        let mut t = Table::new(&["MEASURE", "RESULT", "DETAIL"]);
        t.row(ingest_row(
            "ingest, queues unbounded",
            &self.ingest_unbounded,
        ));
        t.row(ingest_row(
            "ingest, original limits 50/100",
            &self.ingest_original_limits,
        ));
        t.row(ingest_row(
            "plain multi-row INSERTs (limit)",
            &self.plain_inserts,
        ));
        t.row(vec![
            "ingest as % of the limit".into(),
            format!("{:.0} %", self.ingest_percent_of_plain),
            String::new(),
        ]);
        t.row(ingest_row(
            "ingest, 20 rules per service",
            &self.ingest_rules,
        ));
        t.row(vec![
            "rules ingest as % of no-rules ingest".into(),
            format!("{:.0} %", self.rules_percent_of_no_rules),
            "conditions of every kind, cooldowns rule-wide and per viewer".into(),
        ]);
        t.row(pending_row(&self.pending_size));
        for d in &self.drain {
            t.row(drain_row(d));
        }
        if let Some(l) = &self.latency {
            t.row(latency_row(l));
            t.row(peak_rss_row(l));
        }
        t.print("");
    }
}

fn ingest_row(name: &str, r: &IngestResult) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{:.0} events/s", r.events_per_sec),
        format!(
            "{} queue rows, {} discarded, {} overflow, {} transactions, {:.2} s",
            r.queue_rows, r.discarded, r.overflow, r.transactions, r.seconds
        ),
    ]
}

fn pending_row(p: &PendingResult) -> Vec<String> {
    vec![
        "is the queue full? (per service per frame)".into(),
        format!(
            "{:.0} µs bounded · {:.0} µs COUNT(*)",
            p.bounded_us, p.count_all_us
        ),
        format!(
            "{} pending items; dispatch reads at most {} index entries, the original counted them all per event ({:.0}× slower)",
            p.pending,
            p.limit,
            p.count_all_us / p.bounded_us.max(1e-9)
        ),
    ]
}

fn drain_row(d: &DrainResult) -> Vec<String> {
    vec![
        format!("drain, no-op service, {}", d.mode),
        format!("{:.0} items/s", d.items_per_sec),
        format!(
            "{} items claimed and completed by the worker runner, {:.2} s",
            d.items, d.seconds
        ),
    ]
}

fn latency_row(l: &LatencyResult) -> Vec<String> {
    vec![
        "end-to-end latency (capture receipt → process_event)".into(),
        format!(
            "p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms",
            l.p50_ms, l.p95_ms, l.p99_ms
        ),
        format!(
            "{} events in {} s ({:.0} events/s) from the simulator over WebSocket, max {:.1} ms{}",
            l.events,
            l.seconds,
            l.events_per_sec,
            l.max_ms,
            l.dashboard_snapshots.map_or(String::new(), |n| format!(
                "; a control-room dashboard open throughout ({n} snapshots)"
            ))
        ),
    ]
}

fn peak_rss_row(l: &LatencyResult) -> Vec<String> {
    let mb = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} MB"));
    vec![
        "peak RSS during the latency run".into(),
        format!(
            "capture {} · worker {}",
            mb(l.capture_peak_rss_mb),
            mb(l.worker_peak_rss_mb)
        ),
        "VmHWM of each daemon process".into(),
    ]
}

/// `n` per second over `took`.
fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}

/// CPU model and count, for the report's context.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!("{cpus} CPU(s), {model}")
}
