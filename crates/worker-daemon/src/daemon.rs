//! A whole worker daemon as one future: the HTTP server for browser sources, the supervisor
//! and its runners, and the statistics line, all stopped by one [`Shutdown`]. `main.rs` runs
//! it for the binary; `ctl demo` embeds it.

use std::sync::Arc;
use std::time::Duration;

use core_models::Db;
use lifecycle::{Shutdown, Trigger};
use tokio::task::JoinHandle;

use crate::config::WorkerConfig;
use crate::http::{self, AppState, HttpSettings, LiveFeed};
use crate::runner::RunnerContext;
use crate::stats::report::StatsReport;
use crate::supervisor::Supervisor;

/// How long the HTTP server gets to finish its requests once the runners have stopped.
const HTTP_STOP_GRACE: Duration = Duration::from_secs(2);

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

impl Daemon {
    /// Serves until `shutdown` fires, then stops the runners (each drains its in-flight
    /// items) and, last, the HTTP server: in-flight dino actions still need their page's ack.
    pub async fn serve(self, shutdown: Shutdown) {
        let Daemon {
            db,
            config,
            services,
            http,
        } = self;
        let masked = db.url().masked();
        let ctx = RunnerContext::new(db.clone(), config.clone());
        let server =
            http.map(|(listener, settings)| HttpServer::start(listener, settings, &ctx, &db));
        tracing::info!(
            owner = %config.owner,
            database = %masked,
            "worker daemon started{}",
            if services.is_empty() { String::new() } else { format!(" for {}", services.join(", ")) }
        );
        let stats = StatsReport::new(ctx.queue.clone(), ctx.counters.clone());
        let stats = tokio::spawn(stats.print_every(config.stats_every, shutdown.clone()));
        Supervisor::new(ctx, services)
            .follow_services(shutdown)
            .await;
        stats.abort();
        if let Some(server) = server {
            server.stop().await;
        }
    }
}

/// The browser-source server on its task, with its own stop: it outlives the runners.
struct HttpServer {
    stop: Trigger,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Serves the pages, the sockets and the API on `listener`.
    fn start(
        listener: std::net::TcpListener,
        settings: HttpSettings,
        ctx: &RunnerContext,
        db: &Db,
    ) -> Self {
        let base = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(_) => format!("http://{}", settings.addr),
        };
        tracing::info!("http listening on {base}");
        tracing::info!("control room: {base}/");
        tracing::info!(
            "browser sources: {base}/overlays and {base}/dino{}",
            if settings.token.is_some() {
                " (add ?token=…)"
            } else {
                ""
            }
        );
        let (stop, shutdown) = Shutdown::new();
        let state = AppState {
            hub: ctx.env.hub.clone(),
            queue: ctx.queue.clone(),
            db: db.clone(),
            counters: ctx.counters.clone(),
            token: settings.token.as_deref().map(Into::into),
            csrf: http::new_csrf_token().into(),
            live: LiveFeed::start(
                db.clone(),
                ctx.env.hub.clone(),
                ctx.counters.clone(),
                shutdown.clone(),
            ),
            skips: ctx.skips.clone(),
        };
        let task = tokio::spawn(async move {
            if let Err(e) = http::serve(listener, state, shutdown).await {
                tracing::error!("the http server stopped: {e}");
            }
        });
        HttpServer { stop, task }
    }

    /// Stops taking requests and gives the ones in progress [`HTTP_STOP_GRACE`].
    async fn stop(self) {
        self.stop.trigger();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(HTTP_STOP_GRACE, self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
