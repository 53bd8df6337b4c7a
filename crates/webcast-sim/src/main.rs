//! `webcast-sim`: a local TikTok LIVE for demos and process-level tests.
//!
//! Serves the sign server, the room lookup and the WebSocket push server on 127.0.0.1, plays a
//! scenario file and/or a random stream, and accepts more steps as JSON lines on stdin (one
//! [`webcast_sim::Step`] per line, e.g. `{"type":"fault","fault":"drop_connection"}`).
//!
//! The first line on stdout is machine-readable, space-separated `key=value` pairs:
//!
//! ```text
//! webcast-sim sign_server=http://127.0.0.1:40123 room_id=7300000000000000000 username=sim_streamer ws=ws://127.0.0.1:40124/webcast/im/ws_proxy/ws_reuse_supplement/
//! ```
//!
//! `--replay FILE` plays a recording made with `capture-daemon --record FILE` (format in
//! `webcast::recording`), so a real session can be captured again into a fresh database.
//!
//! Point a client's sign server, web base and API base at `sign_server`. Stops on Ctrl+C or
//! SIGTERM (a second one exits at once), or when stdin closes with `--exit-on-eof`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lifecycle::Shutdown;
use tokio::io::AsyncBufReadExt;
use webcast_sim::{Mix, RandomStream, Scenario, Simulator, SimulatorConfig, SimulatorHandle, Step};

/// A local TikTok LIVE speaking the Webcast protocol.
#[derive(Debug, Parser)]
#[command(name = "webcast-sim", version)]
struct Args {
    /// Scenario file (JSON, see the `webcast_sim::scenario` docs) played first.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Generate a random stream (after the scenario, whenever nothing else is queued).
    #[arg(long)]
    random: bool,
    /// Random messages per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Random mix as weights: comment,gift,like,join,follow,share,subscribe,viewers.
    #[arg(long, value_parser = parse_mix)]
    mix: Option<Mix>,
    /// Seed of the random stream (reproducible runs).
    #[arg(long)]
    seed: Option<u64>,
    /// Room id handed out.
    #[arg(long, default_value_t = 7_300_000_000_000_000_000)]
    room_id: i64,
    /// Streamer handle the lookup knows.
    #[arg(long, default_value = "sim_streamer")]
    username: String,
    /// Require this API key from clients (x-api-key).
    #[arg(long, env = "WEBCAST_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Maximum messages per frame.
    #[arg(long, default_value_t = 5)]
    max_per_frame: usize,
    /// Send frames uncompressed.
    #[arg(long)]
    no_gzip: bool,
    /// Do not ask for acks.
    #[arg(long)]
    no_ack: bool,
    /// Announce this heartbeat interval (seconds) in Handshake-Options.
    #[arg(long)]
    ping_interval: Option<f64>,
    /// Replay a recording (`capture-daemon --record FILE`, format in `webcast::recording`):
    /// its frames are sent as recorded, after the scenario, to whichever client connects.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Replay speed factor (2 = twice as fast; 0 = no pauses at all).
    #[arg(long, default_value_t = 1.0)]
    replay_speed: f64,
    /// Do not put a history comment in `/webcast/fetch` answers (always off with --replay:
    /// the recording holds the history the original session saw).
    #[arg(long)]
    no_history: bool,
    /// Exit when stdin reaches end of file.
    #[arg(long)]
    exit_on_eof: bool,
}

fn parse_mix(s: &str) -> Result<Mix, String> {
    let w: Vec<u32> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .map_err(|e| format!("bad weight {p:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let [comment, gift, like, join, follow, share, subscribe, viewers] = w[..] else {
        return Err(
            "expected 8 weights: comment,gift,like,join,follow,share,subscribe,viewers".into(),
        );
    };
    Ok(Mix {
        comment,
        gift,
        like,
        join,
        follow,
        share,
        subscribe,
        viewers,
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|runtime| {
            let result = runtime.block_on(run(args));
            // Reading stdin blocks a thread that nothing can interrupt: waiting for it would
            // keep a stopped simulator alive until its stdin closes.
            runtime.shutdown_background();
            result
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webcast-sim: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the simulator, says where it is, and plays stdin's steps until told to stop.
async fn run(args: Args) -> Result<(), String> {
    let config = args.simulator_config()?;
    let (_trigger, shutdown) = Shutdown::on_signals("webcast-sim")
        .map_err(|e| format!("cannot install the Ctrl+C/SIGTERM handler: {e}"))?;
    let sim = Simulator::start(config).await.map_err(|e| e.to_string())?;
    announce(&sim)?;
    play_stdin(&sim, args.exit_on_eof, shutdown).await;
    sim.shutdown().await;
    Ok(())
}

impl Args {
    /// The simulator the flags describe.
    fn simulator_config(&self) -> Result<SimulatorConfig, String> {
        let scenario = self.scenario()?;
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("--rate must be positive, got {}", self.rate));
        }
        Ok(SimulatorConfig {
            room_id: self.room_id,
            username: self.username.clone(),
            api_key: self.api_key.clone(),
            scenario,
            random: self.random.then(|| RandomStream {
                rate_per_sec: self.rate,
                mix: self.mix.unwrap_or_default(),
                seed: self.seed,
            }),
            max_messages_per_frame: self.max_per_frame,
            gzip: !self.no_gzip,
            need_ack: !self.no_ack,
            handshake_ping_interval: self
                .ping_interval
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
            history_in_fetch: !(self.no_history || self.replay.is_some()),
            ..SimulatorConfig::default()
        })
    }

    /// The scenario file's steps, then the recording's.
    fn scenario(&self) -> Result<Scenario, String> {
        let mut scenario = match &self.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
                Scenario::from_json(&text)
                    .map_err(|e| format!("scenario {} is invalid: {e}", path.display()))?
            }
            None => Scenario::default(),
        };
        if let Some(path) = &self.replay {
            let frames = webcast::recording::read(path).map_err(|e| e.to_string())?;
            let replay = Scenario::replay(&frames, self.replay_speed);
            scenario.steps.extend(replay.steps);
        }
        Ok(scenario)
    }
}

/// The first stdout line: where the simulator is, as `key=value` pairs.
fn announce(sim: &SimulatorHandle) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let line = format!(
        "webcast-sim sign_server={} room_id={} username={} ws={}",
        sim.base_url().as_str().trim_end_matches('/'),
        sim.room_id(),
        sim.username(),
        sim.ws_url()
    );
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Plays the steps given as JSON lines on stdin until the shutdown fires; when stdin closes,
/// stops too with `--exit-on-eof`, else keeps serving until the shutdown.
async fn play_stdin(sim: &SimulatorHandle, exit_on_eof: bool, mut shutdown: Shutdown) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => push_line(sim, &line),
                Ok(None) | Err(_) => break,
            },
            () = shutdown.wait() => return,
        }
    }
    if !exit_on_eof {
        shutdown.wait().await;
    }
}

/// One stdin line: a step, or a line saying why it is ignored.
fn push_line(sim: &SimulatorHandle, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    match serde_json::from_str::<Step>(line) {
        Ok(step) => sim.push(step),
        Err(e) => eprintln!("webcast-sim: ignoring stdin line (not a step: {e}): {line}"),
    }
}
