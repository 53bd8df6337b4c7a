//! The dashboard's live view: one snapshot a second, made by one task for every open
//! dashboard and pushed over `/ws/dashboard` (`GET /api/dashboard` returns the latest).
//!
//! A snapshot costs a handful of queries whatever the event rate: the queue counts, the
//! leases, the services, the recent sessions, and the gifts and viewer counts stored since the
//! previous snapshot (read once each, by id). Rates come from differences between snapshots,
//! lags from this daemon's histograms. Nothing runs while no dashboard is open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::{report, services, sessions, Db, LiveSession, ServiceKind};
use dispatcher::Engine;
use lifecycle::Shutdown;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::auth;
use super::error::ApiError;
use super::state::AppState;
use crate::hub::{Hub, PageKind};
use crate::stats::{Counters, LagSnapshot};

/// How often a snapshot is made while a dashboard is open.
const EVERY: Duration = Duration::from_secs(1);
/// The window of the items/s rates.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The window of the lag percentiles: between one and two of these.
const LAG_WINDOW: Duration = Duration::from_secs(30);

/// One snapshot, as the dashboard receives it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Dashboard {
    /// When it was made (UTC).
    generated_at: NaiveDateTime,
    /// The LIVE (or test session) being captured, else the latest one.
    session: Option<SessionNow>,
    /// Every service.
    services: Vec<ServiceNow>,
    /// Events of LIVE sessions, all time (test sessions left out).
    events_total: i64,
}

/// The session on the dashboard.
#[derive(Debug, Clone, Serialize)]
struct SessionNow {
    id: i64,
    name: Option<String>,
    streamer: String,
    status: String,
    is_test: bool,
    started_at: NaiveDateTime,
    duration_secs: i64,
    events: i64,
    events_per_min: f64,
    viewers: Option<i64>,
    diamonds: i64,
}

/// One service on the dashboard.
#[derive(Debug, Clone, Serialize)]
struct ServiceNow {
    slug: String,
    name: String,
    service_class: String,
    is_active: bool,
    paused: bool,
    pending: i64,
    processing: i64,
    completed: i64,
    failed: i64,
    /// Discarded items (overflow, cooldown, cleared, deleted comments).
    dropped: i64,
    /// Completed and failed per second, over the last snapshot interval.
    items_per_sec: f64,
    lag_p50_ms: Option<f64>,
    lag_p99_ms: Option<f64>,
    /// The worker daemon holding the service, if any.
    owner: Option<String>,
    /// Browser-source pages connected for it (`null` for kinds without pages).
    pages: Option<usize>,
}

/// The snapshots, shared by every handler; the producing task runs with the server.
#[derive(Clone)]
pub(crate) struct LiveFeed {
    latest: watch::Receiver<Option<Arc<str>>>,
    demand: Arc<Demand>,
}

/// Who wants snapshots: open dashboards, and API reads (for a few seconds after each).
#[derive(Default)]
struct Demand {
    sockets: AtomicUsize,
    /// Seconds since `epoch` until which API readers want snapshots.
    api_until: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
    wake: Notify,
}

impl Demand {
    fn epoch(&self) -> Instant {
        *self.epoch.get_or_init(Instant::now)
    }

    fn wanted(&self) -> bool {
        self.sockets.load(Ordering::Relaxed) > 0
            || self.epoch().elapsed().as_secs() < self.api_until.load(Ordering::Relaxed)
    }

    /// An API reader wants snapshots for the next 10 seconds.
    fn want_for_api(&self) {
        let until = self.epoch().elapsed().as_secs() + 10;
        self.api_until.fetch_max(until, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// An open dashboard socket, counted while it lives.
struct Watching(Arc<Demand>);

impl Watching {
    fn start(demand: &Arc<Demand>) -> Watching {
        demand.sockets.fetch_add(1, Ordering::Relaxed);
        demand.wake.notify_one();
        Watching(demand.clone())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveFeed {
    /// Starts the producer; it stops with `shutdown`.
    pub(crate) fn start(db: Db, hub: Hub, counters: Counters, shutdown: Shutdown) -> LiveFeed {
        let (tx, latest) = watch::channel(None);
        let demand = Arc::new(Demand::default());
        let producer = Producer {
            db,
            hub,
            counters,
            memory: Memory::default(),
            demand: demand.clone(),
        };
        tokio::spawn(producer.run(tx, shutdown));
        LiveFeed { latest, demand }
    }
}

/// Makes the snapshots.
struct Producer {
    db: Db,
    hub: Hub,
    counters: Counters,
    memory: Memory,
    demand: Arc<Demand>,
}

/// What a snapshot remembers of the previous ones, for rates and running sums.
struct Memory {
    /// (when, completed + failed) per service id, over the last [`RATE_WINDOW`].
    processed: HashMap<i64, Vec<(Instant, i64)>>,
    /// The session followed, its last event id read, its diamonds and last viewer count.
    session: Option<(i64, report::Pulse, i64)>,
    /// (when, total_events) of the followed session over the last minute.
    totals: Vec<(Instant, i64)>,
    /// Lag histograms at the start of the current window, and of the previous one.
    lag_bases: (
        Instant,
        HashMap<String, LagSnapshot>,
        HashMap<String, LagSnapshot>,
    ),
}

impl Producer {
    async fn run(mut self, tx: watch::Sender<Option<Arc<str>>>, mut shutdown: Shutdown) {
        loop {
            if !self.demand.wanted() {
                // Idle until a dashboard opens or the API asks.
                tokio::select! {
                    () = self.demand.wake.notified() => {}
                    () = shutdown.wait() => return,
                }
                continue;
            }
            match self.snapshot().await {
                Ok(d) => {
                    let text: Arc<str> = serde_json::to_string(&d).unwrap_or_default().into();
                    tx.send_replace(Some(text));
                }
                Err(e) => tracing::debug!("dashboard snapshot failed: {e:?}"),
            }
            if shutdown.sleep(EVERY).await {
                return;
            }
        }
    }

    async fn snapshot(&mut self) -> Result<Dashboard, ApiError> {
        let followed = self
            .memory
            .session
            .map(|(id, pulse, _)| (id, pulse.last_id));
        let read = self
            .db
            .run(move |c| {
                let mut engine = Engine::new(c);
                let queues = engine.stats(None)?;
                let owners = engine.service_owners()?;
                let all = services::list(c)?;
                let recent = sessions::list(c, 20)?;
                let totals = sessions::totals(c, false)?;
                let session = pick_session(&recent);
                let pulse = match session {
                    Some(s) => {
                        let after = match followed {
                            Some((id, last)) if id == s.id => last,
                            _ => 0,
                        };
                        Some(report::pulse(c, s.id, after)?)
                    }
                    None => None,
                };
                Ok::<_, ApiError>(Read {
                    queues,
                    owners: owners
                        .into_iter()
                        .map(|l| (l.service_id, l.owner))
                        .collect(),
                    services: all,
                    session: session.cloned(),
                    pulse,
                    events_total: totals.events,
                })
            })
            .await?;
        Ok(self.assemble(read))
    }

    fn assemble(&mut self, read: Read) -> Dashboard {
        let at = Instant::now();
        let lag = self.lag_now(at);
        let mut queues: HashMap<i64, dispatcher::QueueStats> =
            read.queues.into_iter().map(|q| (q.service_id, q)).collect();
        let services = read
            .services
            .into_iter()
            .map(|s| {
                let q = queues.remove(&s.id).unwrap_or_default();
                let done = q.completed + q.failed;
                let rate = self.items_per_sec(s.id, done, at);
                let lag = lag.get(&s.slug);
                let kind = s.kind().ok();
                ServiceNow {
                    pages: kind.and_then(page_kind).map(|k| self.hub.pages(k, &s.slug)),
                    owner: read.owners.get(&s.id).cloned(),
                    lag_p50_ms: lag.map(|l| l.0),
                    lag_p99_ms: lag.map(|l| l.1),
                    items_per_sec: rate,
                    pending: q.pending,
                    processing: q.processing,
                    completed: q.completed,
                    failed: q.failed,
                    dropped: q.discarded,
                    slug: s.slug,
                    name: s.name,
                    service_class: s.service_class,
                    is_active: s.is_active,
                    paused: s.is_paused,
                }
            })
            .collect();
        let session = read
            .session
            .map(|s| self.session_now(s, read.pulse.unwrap_or_default(), at));
        Dashboard {
            generated_at: now(),
            session,
            services,
            events_total: read.events_total,
        }
    }

    /// Items finished per second over the last [`RATE_WINDOW`] (a slow SYNC service finishes
    /// one every few seconds: a one-second rate would jump between 0 and 1).
    fn items_per_sec(&mut self, service_id: i64, done: i64, at: Instant) -> f64 {
        let samples = self.memory.processed.entry(service_id).or_default();
        samples.retain(|(t, _)| at.duration_since(*t) <= RATE_WINDOW);
        samples.push((at, done));
        match samples.first() {
            Some(&(then, before)) if at > then => per_sec(done - before, at - then),
            _ => 0.0,
        }
    }

    /// The followed session, its running sums carried from the previous snapshots.
    fn session_now(&mut self, s: LiveSession, pulse: report::Pulse, at: Instant) -> SessionNow {
        let m = &mut self.memory;
        let (diamonds, viewers) = match m.session {
            Some((id, prev, diamonds)) if id == s.id => {
                (diamonds + pulse.diamonds, pulse.viewers.or(prev.viewers))
            }
            _ => {
                m.totals.clear();
                (pulse.diamonds, pulse.viewers)
            }
        };
        let carried = report::Pulse { viewers, ..pulse };
        m.session = Some((s.id, carried, diamonds));
        m.totals.push((at, s.total_events));
        m.totals
            .retain(|(t, _)| at.duration_since(*t) <= Duration::from_secs(61));
        let end = s.ended_at.unwrap_or_else(now);
        let age = (end - s.started_at).to_std().unwrap_or_default();
        let events_per_min = match m.totals.first() {
            // A few seconds of samples say little: until then, the session's average (over at
            // least its first minute, so a lone first event is not "60 a minute").
            Some(&(t, n)) if at.duration_since(t) >= Duration::from_secs(5) => {
                per_sec(s.total_events - n, at - t) * 60.0
            }
            _ => per_sec(s.total_events, age.max(Duration::from_secs(60))) * 60.0,
        };
        SessionNow {
            duration_secs: (end - s.started_at).num_seconds().max(0),
            events_per_min: (events_per_min * 10.0).round() / 10.0,
            viewers,
            diamonds,
            id: s.id,
            name: s.name,
            streamer: s.streamer_unique_id,
            status: s.status.to_string(),
            is_test: s.is_test,
            started_at: s.started_at,
            events: s.total_events,
        }
    }

    /// (p50, p99) in ms per slug over the last 30 to 60 seconds.
    fn lag_now(&mut self, at: Instant) -> HashMap<String, (f64, f64)> {
        let current: HashMap<String, LagSnapshot> = self.counters.lag().into_iter().collect();
        let (since, older, newer) = &mut self.memory.lag_bases;
        if at.duration_since(*since) >= LAG_WINDOW || newer.is_empty() {
            *older = std::mem::replace(newer, current.clone());
            *since = at;
        }
        current
            .iter()
            .filter_map(|(slug, snap)| {
                let window = match older.get(slug) {
                    Some(base) => snap.since(base),
                    None => snap.clone(),
                };
                let s = window.summary()?;
                Some((slug.clone(), (s.p50_ms, s.p99_ms)))
            })
            .collect()
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            processed: HashMap::new(),
            session: None,
            totals: Vec::new(),
            lag_bases: (Instant::now(), HashMap::new(), HashMap::new()),
        }
    }
}

/// What one snapshot reads from the database.
struct Read {
    queues: Vec<dispatcher::QueueStats>,
    owners: HashMap<i64, String>,
    services: Vec<core_models::Service>,
    session: Option<LiveSession>,
    pulse: Option<report::Pulse>,
    events_total: i64,
}

/// The session a dashboard follows: the newest active LIVE, else the newest active test
/// session, else the newest session.
fn pick_session(recent: &[LiveSession]) -> Option<&LiveSession> {
    let active = |test: bool| {
        recent
            .iter()
            .find(|s| s.status == core_models::SessionStatus::Active && s.is_test == test)
    };
    active(false)
        .or_else(|| active(true))
        .or_else(|| recent.first())
}

fn page_kind(kind: ServiceKind) -> Option<PageKind> {
    match kind {
        ServiceKind::DinoChrome => Some(PageKind::Dino),
        ServiceKind::Overlays => Some(PageKind::Overlays),
        _ => None,
    }
}

fn per_sec(n: i64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    ((n.max(0) as f64 / secs) * 10.0).round() / 10.0
}

/// `GET /api/dashboard`: a snapshot made after the request arrived.
pub(super) async fn dashboard(State(app): State<AppState>) -> Response {
    let mut rx = app.live.latest.clone();
    rx.mark_unchanged();
    app.live.demand.want_for_api();
    let latest = match tokio::time::timeout(Duration::from_secs(5), async {
        match rx.changed().await {
            Ok(()) => rx.borrow_and_update().clone(),
            Err(_) => None,
        }
    })
    .await
    {
        Ok(Some(t)) => t,
        _ => {
            return ApiError::Unavailable("the dashboard is not ready yet: try again".into())
                .into_response()
        }
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        latest.to_string(),
    )
        .into_response()
}

/// `/ws/dashboard`: a snapshot as soon as connected, then each new one.
pub(super) async fn socket(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    State(app): State<AppState>,
) -> Response {
    if !auth::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused\n").into_response();
    }
    let rx = app.live.latest.clone();
    let demand = app.live.demand.clone();
    ws.on_upgrade(move |socket| push(socket, rx, demand))
}

async fn push(
    mut socket: WebSocket,
    mut rx: watch::Receiver<Option<Arc<str>>>,
    demand: Arc<Demand>,
) {
    let _watching = Watching::start(&demand);
    loop {
        let latest = rx.borrow_and_update().clone();
        if let Some(text) = latest {
            if socket
                .send(Message::Text(text.as_ref().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            // The page sends nothing; a close or an error ends the push.
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
