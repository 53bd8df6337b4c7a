//! A whole worker daemon as one future: the HTTP server for browser sources, the supervisor
//! and its runners, and the statistics line, all stopped by one shutdown signal. `main.rs`
//! runs it for the binary; `ctl demo` embeds it.

use std::sync::Arc;
use std::time::Duration;

use core_models::Db;
use tokio::sync::watch;

use crate::http::{self, AppState, HttpSettings};
use crate::runner::RunnerContext;
use crate::stats::{LagSnapshot, Rate};
use crate::{supervisor, WorkerConfig};

/// What a daemon runs with.
pub struct Daemon {
    /// The database pool.
    pub db: Db,
    /// Timings and identity.
    pub config: Arc<WorkerConfig>,
    /// Only these services (slugs); empty for every active one.
    pub services: Vec<String>,
    /// The browser-source server, already bound (so a taken port fails before anything
    /// starts), or `None` for no server.
    pub http: Option<(std::net::TcpListener, HttpSettings)>,
}

/// Runs until `shutdown` turns true, then stops the runners (each drains its in-flight items)
/// and, last, the HTTP server: in-flight dino actions still need their page's ack.
pub async fn run(daemon: Daemon, shutdown: watch::Receiver<bool>) {
    let Daemon {
        db,
        config,
        services,
        http,
    } = daemon;
    let masked = db.url().masked();
    let ctx = RunnerContext::new(db, config.clone());
    let (http_stop, http_stopped) = watch::channel(false);
    let server = http.map(|(listener, settings)| {
        let base = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(_) => format!("http://{}", settings.addr),
        };
        tracing::info!("http listening on {base}");
        tracing::info!(
            "browser sources: {base}/overlays and {base}/dino{}",
            if settings.token.is_some() {
                " (add ?token=…)"
            } else {
                ""
            }
        );
        let state = AppState {
            hub: ctx.env.hub.clone(),
            queue: ctx.queue.clone(),
            counters: ctx.counters.clone(),
            token: settings.token.as_deref().map(Into::into),
        };
        tokio::spawn(async move {
            if let Err(e) = http::serve(listener, state, http_stopped).await {
                tracing::error!("the http server stopped: {e}");
            }
        })
    });
    tracing::info!(
        owner = %config.owner,
        database = %masked,
        "worker daemon started{}",
        if services.is_empty() { String::new() } else { format!(" for {}", services.join(", ")) }
    );
    let stats = tokio::spawn(print_stats(ctx.clone(), shutdown.clone()));
    supervisor::run(ctx, services, shutdown).await;
    stats.abort();
    let _ = http_stop.send(true);
    if let Some(server) = server {
        let abort = server.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Prints queue statistics periodically, like the original: per service, pending,
/// processing, completed, failed, discarded and this daemon's items/s.
async fn print_stats(ctx: RunnerContext, mut shutdown: watch::Receiver<bool>) {
    if ctx.config.stats_every.is_zero() {
        return;
    }
    let mut rate = Rate::default();
    let mut lag_before: std::collections::HashMap<String, LagSnapshot> = Default::default();
    loop {
        if tokio::time::timeout(ctx.config.stats_every, shutdown.wait_for(|s| *s))
            .await
            .is_ok()
        {
            return;
        }
        let snapshot = ctx.counters.snapshot();
        let rates = rate.update(&snapshot);
        // Lag over this interval only: a spike shows in the line that covers it.
        let mut lag = std::collections::HashMap::new();
        for (slug, now) in ctx.counters.lag() {
            let window = now.since(lag_before.get(&slug).unwrap_or(&LagSnapshot::default()));
            if let Some(summary) = window.summary() {
                lag.insert(slug.clone(), summary);
            }
            lag_before.insert(slug, now);
        }
        match ctx.queue.stats().await {
            Ok(all) => {
                println!("📊 queue statistics");
                for s in all.iter().filter(|s| rates.contains_key(&s.slug)) {
                    let lag = lag.get(&s.slug).map_or(String::new(), |l| {
                        format!(" · lag p50 {:.1} ms, p99 {:.1} ms", l.p50_ms, l.p99_ms)
                    });
                    println!(
                        "   [{}] pending {} · processing {} · completed {} · failed {} · discarded {} · {:.1} items/s{lag}",
                        s.slug,
                        s.pending,
                        s.processing,
                        s.completed,
                        s.failed,
                        s.discarded,
                        rates.get(&s.slug).copied().unwrap_or(0.0)
                    );
                }
            }
            Err(e) => tracing::warn!("cannot read queue statistics: {e:#}"),
        }
    }
}
