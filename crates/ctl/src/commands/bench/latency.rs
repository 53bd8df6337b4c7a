//! End-to-end latency and memory, with the daemons as the user runs them: the simulator plays
//! a steady stream over the real Webcast protocol to a `capture-daemon` process, which stores
//! and dispatches it; a `worker-daemon` process hands each item to a no-op service. The worker
//! measures, at `process_event` start, how long ago the event's frame was received by the
//! capture daemon (its lag histogram, read from `/api/stats`); each daemon's peak RSS is read
//! from `/proc` before it is stopped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use core_models::schema::services as sv;
use core_models::{with_conn, DbUrl, EventType};
use diesel::prelude::*;
use webcast_sim::{Mix, RandomStream, Simulator, SimulatorConfig, SimulatorHandle};

use super::scratch::{add_noop_service, Scratch};

/// The probe service's slug.
const PROBE: &str = "bench_probe";

/// What the latency run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyResult {
    pub seconds: u64,
    pub events: u64,
    pub events_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Peak resident memory of the capture daemon (VmHWM), where `/proc` tells it.
    pub capture_peak_rss_mb: Option<f64>,
    /// Peak resident memory of the worker daemon.
    pub worker_peak_rss_mb: Option<f64>,
    /// With `--dashboard`: the dashboard snapshots the open control room received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_snapshots: Option<u64>,
}

/// The daemons' binaries, next to this `ctl` (cargo builds them into the same directory).
pub struct Daemons {
    capture: PathBuf,
    worker: PathBuf,
}

impl Daemons {
    /// Finds both binaries, or says how to build them.
    pub fn locate() -> anyhow::Result<Daemons> {
        let me = std::env::current_exe().context("cannot locate the ctl binary")?;
        let dir = me.parent().unwrap_or(Path::new("."));
        let find = |name: &str| {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                Ok(path)
            } else {
                bail!(
                    "the latency run starts the daemons as processes, and {} is missing: build them first with `cargo build --release --workspace` (or pass --latency-secs 0)",
                    path.display()
                )
            }
        };
        Ok(Daemons {
            capture: find("capture-daemon")?,
            worker: find("worker-daemon")?,
        })
    }
}

/// A daemon process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(super) struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> anyhow::Result<Process> {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Fails with the end of its log if it has exited.
    pub(super) fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} exited early ({status}): {}",
                self.name,
                tail.join(" | ")
            );
        }
        Ok(())
    }

    /// Peak resident set (VmHWM) in MB, on systems with `/proc`.
    pub(super) fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// Asks it to stop like Ctrl+C would, and waits (bounded) for it to exit; its exit
    /// status, unless it had to be killed.
    pub(super) fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let asked = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while asked && Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// Runs the simulator at `rate` messages per second for `seconds` into a capture-daemon and a
/// worker-daemon feeding a no-op probe service, then reads the probe's lag histogram and
/// each daemon's peak memory.
pub fn measure(
    daemons: &Daemons,
    base: &DbUrl,
    rate: f64,
    seconds: u64,
    dashboard: bool,
) -> anyhow::Result<LatencyResult> {
    let scratch = probe_database(base)?;
    let logs = tempfile::Builder::new()
        .prefix("tiklive-bench-logs-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let http = free_loopback_addr()?;
    let mut worker = start_worker(daemons, &scratch, &[PROBE], http, logs.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let simulator = runtime.block_on(Simulator::start(steady_stream(rate)))?;
    let mut capture = start_capture("capture-daemon", daemons, &scratch, &simulator, logs.path())?;
    let watcher = dashboard.then(|| DashboardWatcher::open(&runtime, http));

    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        capture.check_running()?;
        worker.check_running()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let capture_rss = capture.peak_rss_mb();
    capture.stop();
    // What the capture stored in its last moments reaches the worker too.
    std::thread::sleep(Duration::from_millis(500));
    let worker_rss = worker.peak_rss_mb();
    let stats = http_get(http, "/api/stats").context("reading the worker's /api/stats")?;
    let dashboard_snapshots = watcher.map(DashboardWatcher::close).transpose()?;
    worker.stop();
    runtime.block_on(simulator.shutdown());

    let lag = probe_lag(&stats)?;
    let ms = |key: &str| lag[key].as_f64().unwrap_or(f64::NAN);
    let events = lag["count"].as_u64().unwrap_or(0);
    Ok(LatencyResult {
        seconds,
        events,
        events_per_sec: events as f64 / seconds.max(1) as f64,
        p50_ms: ms("p50_ms"),
        p95_ms: ms("p95_ms"),
        p99_ms: ms("p99_ms"),
        max_ms: ms("max_ms"),
        capture_peak_rss_mb: capture_rss,
        worker_peak_rss_mb: worker_rss,
        dashboard_snapshots,
    })
}

/// The control room's dashboard held open on the worker during the run (`--dashboard`): a
/// client of `/ws/dashboard` counting the snapshots it receives, so the run shows what a
/// streamer watching the dashboard costs the pipeline.
struct DashboardWatcher {
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    runtime: tokio::runtime::Handle,
}

impl DashboardWatcher {
    fn open(runtime: &tokio::runtime::Runtime, http: SocketAddr) -> DashboardWatcher {
        use futures_util::StreamExt;
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = received.clone();
        let task = runtime.spawn(async move {
            let url = format!("ws://{http}/ws/dashboard");
            let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .with_context(|| format!("cannot open the dashboard at {url}"))?;
            while let Some(message) = socket.next().await {
                if message.context("the dashboard's socket failed")?.is_text() {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok(())
        });
        DashboardWatcher {
            received,
            task,
            runtime: runtime.handle().clone(),
        }
    }

    /// The snapshots received; an error if the dashboard could not be opened or failed.
    fn close(self) -> anyhow::Result<u64> {
        if self.task.is_finished() {
            self.runtime
                .block_on(self.task)
                .context("the dashboard task")??;
        } else {
            self.task.abort();
        }
        Ok(self.received.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A scratch database where only the probe consumes: the seeded services would just fill up.
fn probe_database(base: &DbUrl) -> anyhow::Result<Scratch> {
    let scratch = Scratch::new(base, "latency")?;
    let mut conn = scratch.conn()?;
    with_conn!(&mut conn, |c| diesel::update(sv::table)
        .set(sv::is_active.eq(false))
        .execute(c))?;
    add_noop_service(
        &mut conn,
        PROBE,
        "latency probe",
        EventType::INTERACTIVE,
        true,
        &[],
    )?;
    Ok(scratch)
}

/// The worker daemon running `services` (every active one when empty), its pages on `http`;
/// returns once it answers.
pub(super) fn start_worker(
    daemons: &Daemons,
    scratch: &Scratch,
    services: &[&str],
    http: SocketAddr,
    logs: &Path,
) -> anyhow::Result<Process> {
    let mut worker = Process::spawn(
        "worker-daemon",
        Command::new(&daemons.worker)
            .args(services.iter().flat_map(|s| ["--service", s]))
            .args(["--http", &http.to_string()])
            .args(["--database-url", scratch.url.as_arg()])
            // The no-op `dummy` service logs every event at info level; the bench measures
            // the pipeline, not the terminal.
            .env("WORKER_LOG", "warn"),
        logs,
    )?;
    wait_for(&mut worker, "the worker's /health", || {
        http_get(http, "/health").is_ok()
    })?;
    Ok(worker)
}

/// A steady random stream of interactive events (no subscriptions, no viewer counts).
pub(super) fn steady_stream(rate: f64) -> SimulatorConfig {
    SimulatorConfig {
        random: Some(RandomStream {
            rate_per_sec: rate,
            mix: Mix {
                subscribe: 0,
                viewers: 0,
                ..Mix::default()
            },
            seed: Some(7),
        }),
        max_messages_per_frame: 10,
        ..SimulatorConfig::default()
    }
}

/// The capture daemon on the simulated LIVE, storing into the scratch database, its output
/// in `logs/<name>.log`.
pub(super) fn start_capture(
    name: &str,
    daemons: &Daemons,
    scratch: &Scratch,
    simulator: &SimulatorHandle,
    logs: &Path,
) -> anyhow::Result<Process> {
    let sim_base = simulator.base_url().as_str();
    let room = simulator.room_id().to_string();
    Process::spawn(
        name,
        Command::new(&daemons.capture)
            .args(["--username", simulator.username(), "--room-id", &room])
            .args(["--sign-server-url", sim_base, "--tiktok-base-url", sim_base])
            .args(["--database-url", scratch.url.as_arg(), "--quiet"]),
        logs,
    )
}

/// The probe's lag histogram in the worker's `/api/stats`.
fn probe_lag(stats: &str) -> anyhow::Result<serde_json::Value> {
    let stats: serde_json::Value =
        serde_json::from_str(stats).context("the worker's /api/stats is not JSON")?;
    stats
        .as_array()
        .and_then(|all| all.iter().find(|s| s["slug"] == PROBE))
        .map(|s| s["lag"].clone())
        .filter(|l| !l.is_null())
        .context("no event reached the probe service")
}

/// A loopback address nothing listens on right now, for the worker's HTTP server.
pub(super) fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(probe.local_addr()?)
}

fn wait_for(
    process: &mut Process,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        process.check_running()?;
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The body of a plain GET on loopback (HTTP/1.0: the server closes when done).
pub(super) fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("not an HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("{}", head.lines().next().unwrap_or("no status line"));
    }
    Ok(body.to_owned())
}
