//! `ctl bench` as a process, small: every part runs and reports figures that agree with each
//! other (never how fast: the machines are shared, speed is read from the report, not asserted).
//!
//! SQLite only: on MySQL the bench needs CREATE DATABASE, which CI's test user has only for
//! its own databases.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The daemons the latency run starts, next to `ctl` (built by `cargo test --workspace`).
fn daemons_built() -> bool {
    let ctl = Path::new(env!("CARGO_BIN_EXE_ctl"));
    let dir = ctl.parent().expect("bin dir");
    let present = ["capture-daemon", "worker-daemon"].iter().all(|d| {
        dir.join(format!("{d}{}", std::env::consts::EXE_SUFFIX))
            .is_file()
    });
    if !present {
        let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
        assert!(
            !in_ci,
            "CI is set but the daemons are not built next to ctl"
        );
        eprintln!("note: daemons not built (run cargo test --workspace); latency part skipped");
    }
    present
}

#[test]
fn every_part_runs_and_the_figures_agree() {
    let latency = daemons_built();
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args(["bench", "--events", "600", "--drain-items", "300", "--json"])
        .args(["--pending-items", "400"])
        .args(["--latency-rate", "300", "--latency-secs"])
        .arg(if latency { "3" } else { "0" })
        .output()
        .expect("run ctl bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ctl bench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).expect("JSON report");

    let unbounded = &r["ingest_unbounded"];
    let limits = &r["ingest_original_limits"];
    let plain = &r["plain_inserts"];
    for run in [unbounded, limits, plain] {
        assert_eq!(run["events"], 600, "{run}");
        assert!(run["events_per_sec"].as_f64().expect("rate") > 0.0);
        assert!(run["transactions"].as_u64().expect("tx") >= 1);
    }
    // The same rows whichever way they are written; the original's limits discard some.
    assert_eq!(unbounded["queue_rows"], plain["queue_rows"]);
    assert!(unbounded["queue_rows"].as_u64().expect("rows") > 600);
    assert_eq!(unbounded["discarded"], 0);
    assert!(
        limits["discarded"].as_u64().expect("discarded") > 0,
        "{limits}"
    );
    // A burst of 60 frames goes in fewer transactions than frames.
    assert!(
        unbounded["transactions"].as_u64().expect("tx") < 60,
        "{unbounded}"
    );

    let pending = &r["pending_size"];
    assert_eq!(pending["pending"], 400, "{pending}");
    assert_eq!(pending["limit"], 100, "{pending}");
    for key in ["bounded_us", "count_all_us"] {
        assert!(pending[key].as_f64().expect("µs") > 0.0, "{pending}");
    }

    let drain = r["drain"].as_array().expect("drain runs");
    assert_eq!(drain.len(), 2);
    for d in drain {
        assert_eq!(d["items"], 300, "{d}");
        assert!(d["items_per_sec"].as_f64().expect("rate") > 0.0);
    }

    if latency {
        let l = &r["latency"];
        let ms = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} in {l}"));
        assert!(l["events"].as_u64().expect("events") > 0, "{l}");
        assert!(ms("p50_ms") <= ms("p95_ms") && ms("p95_ms") <= ms("p99_ms"));
        assert!(ms("p99_ms") <= ms("max_ms"));
        if cfg!(target_os = "linux") {
            for k in ["capture_peak_rss_mb", "worker_peak_rss_mb"] {
                assert!(ms(k) > 1.0, "{k} in {l}");
            }
        }
    } else {
        assert!(r["latency"].is_null());
    }
}
