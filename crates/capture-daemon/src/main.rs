//! `capture-daemon`: captures a TikTok LIVE into `live_events` and the priority queue of every
//! subscribed service, with nothing lost and nothing doubled.
//!
//! ```text
//! capture-daemon [--username X] [--session-name Y] [--room-id N] [--database-url URL]
//!                [--sign-server-url URL] [--session-id ID] [--record FILE] [--verbose | --quiet]
//! ```
//!
//! One `live_sessions` row per run (kept across reconnects), one transaction per webcast
//! frame (events, queue rows, `total_events`), one console line per event. While the database
//! is away, frames keep coming: batches wait in memory (bounded) and in an append-only spool
//! file (`capture-spool-<streamer>.jsonl` in the database's data directory or
//! `--spool-dir`), and are stored in order when it is back; a spool left by a killed daemon
//! is stored at the next start. `--record FILE` saves every raw frame for
//! `webcast-sim --replay FILE`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ended normally (Ctrl+C, SIGTERM, LIVE ended): session `completed` |
//! | 1 | other fatal error (session `aborted`), or events left in the spool at exit |
//! | 2 | bad usage: no username (`--username` or `ctl config set tiktok_user NAME`), bad argument |
//! | 3 | the user is offline |
//! | 4 | the user was not found |
//! | 5 | blocked by TikTok: captcha, age-restricted LIVE, rejected WebSocket |
//! | 6 | sign server: API key invalid or missing, or a paid plan needed (401/402) |
//! | 7 | database unreachable or not migrated at start |
//! | 8 | sign server: still rate-limited (429) after `--max-attempts` attempts |
//! | 9 | another daemon took the capture over (this one could not renew its lease in time); the session goes on there |
//!
//! # One capture per streamer
//!
//! A second daemon for the same streamer and database, on this machine or another, stands by
//! (one line naming the holder) and takes over when the holder stops: within 12 s of a kill
//! (its lease expires; at once when the holder was a process of this machine that no longer
//! runs), at once after a Ctrl+C of the holder, which then leaves its session open for the
//! standby. The standby continues the same session; events both stored are stored once.
//!
//! # Environment
//!
//! `DATABASE_URL`, `WEBCAST_SIGN_SERVER_URL`, `WEBCAST_SIGN_API_KEY` (never printed),
//! `WEBCAST_SESSION_ID` (a TikTok login, never printed), `WEBCAST_TT_TARGET_IDC`,
//! `WHITELIST_AUTHENTICATED_SESSION_ID_HOST`, `WEBCAST_TIKTOK_BASE_URL`, `CAPTURE_SPOOL_DIR`,
//! `CAPTURE_LOG` (tracing filter).

use capture_daemon::{capture_live, cli, error};
use std::process::ExitCode;

use clap::Parser;
use lifecycle::Shutdown;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: what was wrong; --help has the rest.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("capture-daemon: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let default_filter = if args.verbose {
        "capture_daemon=debug,webcast=debug,dispatcher=info,warn"
    } else {
        "warn"
    };
    // Whatever CAPTURE_LOG says, no dependency may log the login (webcast's directives).
    let filter = webcast::session::LOG_DIRECTIVES.iter().fold(
        tracing_subscriber::EnvFilter::try_from_env("CAPTURE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        |filter, directive| match directive.parse() {
            Ok(d) => filter.add_directive(d),
            Err(_) => filter,
        },
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not in log files or a supervisor's journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| error::Fatal::Other(format!("cannot start the async runtime: {e}")))
        .and_then(|rt| {
            rt.block_on(async {
                // A second signal exits at once (code 130): what was already spooled to
                // disk is kept for the next start.
                let (_trigger, shutdown) = Shutdown::on_signals("capture-daemon").map_err(|e| {
                    error::Fatal::Other(format!("cannot install the Ctrl+C/SIGTERM handler: {e}"))
                })?;
                capture_live(args, shutdown).await
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "capture-daemon: error: {}",
                e.to_string().replace('\n', " ")
            );
            ExitCode::from(e.exit_code())
        }
    }
}
