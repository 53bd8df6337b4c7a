//! `ctl bench`: the performance figures of DESIGN §9, measured on this machine.
//!
//! Every part runs in its own scratch database (see [`scratch`]), never in the user's.

mod drain;
mod ingest;
mod latency;
mod pending;
mod scratch;

use core_models::DbUrl;
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
    pending_size: PendingResult,
    drain: Vec<DrainResult>,
    latency: Option<LatencyResult>,
}

pub fn run(url: &DbUrl, args: BenchArgs) -> anyhow::Result<()> {
    let events = workload::burst(args.events, workload::OVERLOAD_MIX, 42, 1);
    let per_frame = args.per_frame.max(1);
    let say = |what: &str| {
        if !args.output.json {
            eprintln!("… {what}");
        }
    };

    // Found before the long runs start, so a missing build fails at once.
    let daemons = if args.latency_secs == 0 {
        None
    } else {
        Some(latency::Daemons::locate()?)
    };

    say("ingest with room for everything");
    let unbounded = ingest::store_run(
        &Scratch::new(url, "ingest")?,
        &events,
        per_frame,
        Some(10_000_000),
    )?;
    say("ingest with the original's queue sizes (50/100)");
    let original = ingest::store_run(&Scratch::new(url, "limits")?, &events, per_frame, None)?;
    say("the same rows with plain multi-row INSERTs");
    let plain = ingest::raw_run(&Scratch::new(url, "plain")?, &events, per_frame)?;
    say(&format!(
        "pending size of a queue with {} items: bounded count vs COUNT(*)",
        args.pending_items
    ));
    let pending_size = pending::run(url, args.pending_items)?;
    say("drain, SYNC");
    let drain_sync = drain::run(url, args.drain_items, false)?;
    say("drain, ASYNC");
    let drain_async = drain::run(url, args.drain_items, true)?;
    let latency = match &daemons {
        None => None,
        Some(daemons) => {
            say(&format!(
                "end-to-end latency: simulator at {} msgs/s for {} s → capture-daemon → worker-daemon",
                args.latency_rate, args.latency_secs
            ));
            Some(latency::run(
                daemons,
                url,
                args.latency_rate,
                args.latency_secs,
            )?)
        }
    };

    let report = Report {
        database: match url.backend() {
            core_models::Backend::Sqlite => "SQLite (temporary file)".into(),
            core_models::Backend::Mysql => {
                format!("MySQL/MariaDB at {} (scratch database)", url.masked())
            }
        },
        machine: machine(),
        events: args.events,
        per_frame,
        ingest_percent_of_plain: 100.0 * unbounded.events_per_sec / plain.events_per_sec.max(1e-9),
        ingest_unbounded: unbounded,
        ingest_original_limits: original,
        plain_inserts: plain,
        pending_size,
        drain: vec![drain_sync, drain_async],
        latency,
    };
    if args.output.json {
        return output::json(&report);
    }
    outln!("{} · {}", report.database, report.machine);
    outln!(
        "{} events of the overload mix, {} per frame, handed to the capture store as a burst (frames queued during a commit go in the next one, up to {} events)",
        report.events, per_frame, capture_daemon::committer::GROUP_MAX_EVENTS
    );
    let mut t = Table::new(&["MEASURE", "RESULT", "DETAIL"]);
    let ingest_row = |name: &str, r: &IngestResult| {
        vec![
            name.to_owned(),
            format!("{:.0} events/s", r.events_per_sec),
            format!(
                "{} queue rows, {} discarded, {} overflow, {} transactions, {:.2} s",
                r.queue_rows, r.discarded, r.overflow, r.transactions, r.seconds
            ),
        ]
    };
    t.row(ingest_row(
        "ingest, queues unbounded",
        &report.ingest_unbounded,
    ));
    t.row(ingest_row(
        "ingest, original limits 50/100",
        &report.ingest_original_limits,
    ));
    t.row(ingest_row(
        "plain multi-row INSERTs (limit)",
        &report.plain_inserts,
    ));
    t.row(vec![
        "ingest as % of the limit".into(),
        format!("{:.0} %", report.ingest_percent_of_plain),
        String::new(),
    ]);
    let p = &report.pending_size;
    t.row(vec![
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
    ]);
    for d in &report.drain {
        t.row(vec![
            format!("drain, no-op service, {}", d.mode),
            format!("{:.0} items/s", d.items_per_sec),
            format!(
                "{} items claimed and completed by the worker runner, {:.2} s",
                d.items, d.seconds
            ),
        ]);
    }
    if let Some(l) = &report.latency {
        t.row(vec![
            "end-to-end latency (capture receipt → process_event)".into(),
            format!("p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms", l.p50_ms, l.p95_ms, l.p99_ms),
            format!(
                "{} events in {} s ({:.0} events/s) from the simulator over WebSocket, max {:.1} ms",
                l.events, l.seconds, l.events_per_sec, l.max_ms
            ),
        ]);
        let mb = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} MB"));
        t.row(vec![
            "peak RSS during the latency run".into(),
            format!(
                "capture {} · worker {}",
                mb(l.capture_peak_rss_mb),
                mb(l.worker_peak_rss_mb)
            ),
            "VmHWM of each daemon process".into(),
        ]);
    }
    t.print("");
    Ok(())
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
