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
//! Point a client's sign server, web base and API base at `sign_server`. Stops on Ctrl+C,
//! SIGTERM, or when stdin closes with `--exit-on-eof`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::io::AsyncBufReadExt;
use webcast_sim::{Mix, RandomStream, Scenario, Simulator, SimulatorConfig, Step};

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

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webcast-sim: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
            Scenario::from_json(&text)
                .map_err(|e| format!("scenario {} is invalid: {e}", path.display()))?
        }
        None => Scenario::default(),
    };
    if let Some(path) = &args.replay {
        let frames = webcast::recording::read(path).map_err(|e| e.to_string())?;
        let replay = Scenario::replay(&frames, args.replay_speed);
        scenario.steps.extend(replay.steps);
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(format!("--rate must be positive, got {}", args.rate));
    }
    let config = SimulatorConfig {
        room_id: args.room_id,
        username: args.username.clone(),
        api_key: args.api_key.clone(),
        scenario,
        random: args.random.then(|| RandomStream {
            rate_per_sec: args.rate,
            mix: args.mix.unwrap_or_default(),
            seed: args.seed,
        }),
        max_messages_per_frame: args.max_per_frame,
        gzip: !args.no_gzip,
        need_ack: !args.no_ack,
        handshake_ping_interval: args
            .ping_interval
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64),
        history_in_fetch: !(args.no_history || args.replay.is_some()),
    };
    let sim = Simulator::start(config).await.map_err(|e| e.to_string())?;
    {
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
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => match serde_json::from_str::<Step>(&line) {
                    Ok(step) => sim.push(step),
                    Err(e) => eprintln!("webcast-sim: ignoring stdin line (not a step: {e}): {line}"),
                },
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    if args.exit_on_eof {
                        break;
                    }
                }
            },
            () = shutdown_signal() => break,
        }
    }
    sim.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
