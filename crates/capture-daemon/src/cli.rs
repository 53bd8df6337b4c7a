//! Command-line arguments.

use std::path::PathBuf;

use clap::Parser;
use webcast::sign::Secret;

/// Exit codes, shown at the end of `--help`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the session ended normally (Ctrl+C, SIGTERM or the LIVE ended): session `completed`
  1  another fatal error (session `aborted`), or events left in the spool at exit
  2  bad usage: no username (pass --username or `ctl config set tiktok_user NAME`), bad argument
  3  the user is offline (not LIVE now)
  4  the user was not found on TikTok
  5  TikTok blocked us: captcha / blocked page, age-restricted LIVE, or a rejected WebSocket
  6  the sign server refused us: API key invalid or missing, or a paid plan needed (401/402)
  7  the database is unreachable or not migrated at start
  8  the sign server still rate-limited us (429) after --max-attempts attempts
  9  another daemon took the capture over (this one could not renew its lease in time)

One capture per streamer: a second daemon for the same streamer and database, on any machine,
stands by and takes over (continuing the session) when the holder dies or is stopped.

Environment:
  DATABASE_URL              database (mysql://user:pass@host/db, sqlite://PATH or a path)
  WEBCAST_SIGN_SERVER_URL   sign server root (default https://api.eulerstream.com)
  WEBCAST_SIGN_API_KEY      API key sent to the sign server (never printed or logged)
  WEBCAST_SESSION_ID        a logged-in TikTok session id, for age-restricted and private LIVEs
                            (never printed or logged)
  WEBCAST_TT_TARGET_IDC     the data centre of that account (default useast1a)
  WHITELIST_AUTHENTICATED_SESSION_ID_HOST
                            the sign server host allowed to receive the session (unset: TikTok only)
  WEBCAST_TIKTOK_BASE_URL   TikTok web origin for the room lookup (default https://www.tiktok.com)
  CAPTURE_SPOOL_DIR         where the outage spool lives (default: the database's data directory)
  CAPTURE_LOG               tracing filter, e.g. `debug` (overrides --verbose)";

/// Captures a TikTok LIVE into `live_events` and every subscribed service's queue.
///
/// Events are stored one transaction per frame; while the database is away they are kept in
/// memory and spooled to disk, and flushed in order when it is back.
#[derive(Debug, Parser)]
#[command(name = "capture-daemon", version, about, after_help = EXIT_CODES_HELP)]
pub struct Args {
    /// The streamer's TikTok @handle (default: Config `tiktok_user`).
    #[arg(long)]
    pub username: Option<String>,
    /// A label for this capture session.
    #[arg(long)]
    pub session_name: Option<String>,
    /// The LIVE's room id: skips the room lookup (no request to TikTok's web pages).
    #[arg(long)]
    pub room_id: Option<i64>,
    /// Database URL (default: embedded SQLite at data/tiklive.sqlite3).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Sign server root URL (any server speaking `/webcast/fetch`, e.g. the simulator).
    #[arg(long, env = "WEBCAST_SIGN_SERVER_URL")]
    pub sign_server_url: Option<String>,
    /// TikTok web origin used for the room lookup and the live check (tests and simulators).
    #[arg(long, env = "WEBCAST_TIKTOK_BASE_URL")]
    pub tiktok_base_url: Option<String>,
    /// A logged-in TikTok session id (the `sessionid` cookie), for age-restricted and private
    /// LIVEs; prefer the environment variable (a flag shows in the process list). Never
    /// printed or logged.
    #[arg(long, env = webcast::session::SESSION_ID_ENV, hide_env_values = true, value_parser = secret, value_name = "ID")]
    pub session_id: Option<Secret>,
    /// The data centre of the session's account (the `tt-target-idc` cookie), e.g. `eu-ttp2`.
    #[arg(long, env = webcast::session::TT_TARGET_IDC_ENV, value_name = "IDC")]
    pub tt_target_idc: Option<String>,
    /// Save every raw frame received, with timestamps, to FILE (JSON lines), for
    /// `webcast-sim --replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Print protocol detail (connection states, frames, store results).
    #[arg(long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print no per-event lines.
    #[arg(long)]
    pub quiet: bool,
    /// Directory of the outage spool file.
    #[arg(long, env = "CAPTURE_SPOOL_DIR", value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Events kept in memory while the database is away (the spool file holds them all).
    #[arg(long, default_value_t = 10_000)]
    pub spool_memory_events: usize,
    /// Give up after this many consecutive failed connection attempts (0: never).
    #[arg(long, default_value_t = 10)]
    pub max_attempts: u32,
    /// On exit, how long to keep trying to store what is buffered before leaving it in the
    /// spool for the next start (seconds).
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// First reconnect delay in milliseconds (doubles up to 60 s, with jitter).
    #[arg(long, default_value_t = 2000, hide = true)]
    pub reconnect_delay_ms: u64,
}

/// A secret flag value: kept out of `Debug` output from the moment it is parsed.
fn secret(value: &str) -> Result<Secret, String> {
    match value.trim() {
        "" => Err("must not be empty".into()),
        v => Ok(Secret::new(v)),
    }
}
