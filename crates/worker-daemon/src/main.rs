//! `worker-daemon`: runs the services.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use core_models::{Db, DbUrl, PoolOptions};
use lifecycle::Shutdown;
use worker_daemon::daemon::Daemon;
use worker_daemon::http::{self, HttpSettings};
use worker_daemon::{owner_id, WorkerConfig};

/// Runs the services: claims each service's queue by priority and processes its items, SYNC
/// (one at a time) or ASYNC (in parallel). Services added, enabled, disabled, changed or
/// removed with `ctl` are picked up while it runs. Any number of daemons can run: each
/// service has exactly one owner at a time, and a standby takes over when the owner dies.
///
/// Example: worker-daemon --verbose
#[derive(Debug, Parser)]
#[command(name = "worker-daemon", version, max_term_width = 100)]
struct Args {
    /// Run only this service (repeatable); default: every active service.
    #[arg(long = "service", value_name = "SLUG")]
    services: Vec<String>,
    /// Print a line per processed item.
    #[arg(long)]
    verbose: bool,
    /// Database URL (mysql://user:password@host:3306/db, sqlite://PATH or a file path).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seconds between re-reads of the services table (and standby lease attempts).
    #[arg(long, default_value_t = 2.0, value_parser = positive_secs)]
    refresh: f64,
    /// Seconds a service lease lasts without renewal (a standby takes over after it).
    #[arg(long, default_value_t = 10.0, value_parser = positive_secs)]
    service_lease: f64,
    /// Seconds an item claim lasts without renewal (a dead worker's items return after it).
    #[arg(long, default_value_t = 30.0, value_parser = positive_secs)]
    item_lease: f64,
    /// Seconds shutdown waits for in-flight items before releasing them.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative_secs)]
    shutdown_grace: f64,
    /// Seconds between statistics lines (0: none).
    #[arg(long, default_value_t = 30.0, value_parser = non_negative_secs)]
    stats_every: f64,
    /// Address of the browser sources (OBS pages /overlays and /dino, /health, /api/stats),
    /// or `off`. Port 0 picks a free port. An address other than the loopback needs a token.
    #[arg(long, value_name = "ADDR|off", default_value = http::DEFAULT_ADDR)]
    http: String,
    /// Do not serve the browser sources (same as --http off).
    #[arg(long, conflicts_with = "http")]
    no_http: bool,
    /// Token every HTTP request must carry (`?token=…` or `Authorization: Bearer …`);
    /// required when --http is not a loopback address.
    #[arg(long, env = "WORKER_HTTP_TOKEN", hide_env_values = true)]
    http_token: Option<String>,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

fn non_negative_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WORKER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if e.exit_code() == 0 => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            eprintln!(
                "{} (see --help)",
                rendered
                    .lines()
                    .next()
                    .unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: Args) -> anyhow::Result<()> {
    // The HTTP settings and the port are checked first: a taken port or a missing token is
    // one clear error before anything else starts.
    let http = if args.no_http {
        None
    } else {
        HttpSettings::new(&args.http, args.http_token.clone())?
    };
    let listener = http.as_ref().map(HttpSettings::bind).transpose()?;
    let db = open_migrated_database(args.database_url.as_deref())?;
    let config = Arc::new(worker_config(&args));

    // One shutdown signal reaches every task: Ctrl+C and SIGTERM fire it (a second one
    // exits at once; the leases make that safe).
    let (_trigger, shutdown) = Shutdown::on_signals("worker-daemon")
        .context("cannot install the Ctrl+C / SIGTERM handler")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let daemon = Daemon {
        db,
        config,
        services: args.services,
        http: listener.zip(http),
    };
    runtime.block_on(daemon.serve(shutdown));
    tracing::info!("worker daemon stopped");
    Ok(())
}

/// The pool of the database `given` (or the default one), refused unless migrated.
fn open_migrated_database(given: Option<&str>) -> anyhow::Result<Db> {
    let url = DbUrl::resolve(given)?;
    let db = Db::connect(&url, PoolOptions::default())?;
    let mut conn = db.get()?;
    let pending = conn.pending_migrations().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        pending.is_empty(),
        "the database {} is not migrated: run `ctl migrate` first",
        url.masked()
    );
    drop(conn);
    Ok(db)
}

/// The daemon's settings from its flags.
fn worker_config(args: &Args) -> WorkerConfig {
    let mut config = WorkerConfig::new(owner_id());
    config.verbose = args.verbose;
    config.refresh = Duration::from_secs_f64(args.refresh);
    config.service_lease = Duration::from_secs_f64(args.service_lease);
    config.item_lease = Duration::from_secs_f64(args.item_lease);
    config.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace);
    config.stats_every = Duration::from_secs_f64(args.stats_every);
    config
}
