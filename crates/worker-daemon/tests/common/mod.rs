//! Helpers for the worker daemon's tests: a fixture per database, events enqueued through the
//! real dispatcher, the daemon as a process, and a recording `exec` program in POSIX sh.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use core_models::services::NewService;
use core_models::{
    services, sessions, CapturedEvent, DbConn, EventRoute, EventType, LiveSession, MaxQueueSize,
    Priority, QueueItem, ServiceKind, Setting,
};
use diesel::prelude::*;
use dispatcher::{Batch, Engine, QueueStats, SessionRef};
use test_support::TestDb;

/// A migrated database with one capture session, and a scratch directory.
pub struct Fixture {
    pub db: TestDb,
    pub session: LiveSession,
    pub dir: tempfile::TempDir,
    next_msg: i64,
    logs: std::cell::RefCell<Vec<PathBuf>>,
}

impl Fixture {
    pub fn all() -> Vec<Fixture> {
        TestDb::all_migrated()
            .into_iter()
            .map(|db| {
                let session = sessions::start(&mut db.conn(), Some("test"), "room1", "streamer")
                    .expect("session");
                Fixture {
                    db,
                    session,
                    dir: tempfile::tempdir().expect("tempdir"),
                    next_msg: 1,
                    logs: Default::default(),
                }
            })
            .collect()
    }

    pub fn conn(&self) -> DbConn {
        self.db.conn()
    }

    /// Enqueues one event per type given, in order, through the dispatcher.
    pub fn enqueue(&mut self, types: &[EventType]) {
        let events: Vec<CapturedEvent> = types
            .iter()
            .map(|&t| {
                self.next_msg += 1;
                CapturedEvent {
                    event_type: t,
                    msg_id: Some(self.next_msg),
                    timestamp: chrono::Utc::now(),
                    user_id: Some(format!("u{}", self.next_msg)),
                    user_unique_id: Some(format!("user{}", self.next_msg)),
                    user_nickname: Some("Nick 🎁".into()),
                    streak: None,
                    data: serde_json::json!({"comment": "hi"}),
                    received_at: None,
                }
            })
            .collect();
        self.dispatch(events);
    }

    /// Numbers the next events' msg_ids from `first` (TikTok's are above 2^53).
    pub fn number_msg_ids_from(&mut self, first: i64) {
        self.next_msg = first - 1;
    }

    /// Enqueues one event with this nickname and event_data through the dispatcher; returns
    /// its msg_id (its user id is `u<msg_id>`).
    pub fn enqueue_event(
        &mut self,
        event_type: EventType,
        nickname: &str,
        data: serde_json::Value,
    ) -> i64 {
        self.next_msg += 1;
        let event = CapturedEvent {
            event_type,
            msg_id: Some(self.next_msg),
            timestamp: chrono::Utc::now(),
            user_id: Some(format!("u{}", self.next_msg)),
            user_unique_id: Some(format!("user{}", self.next_msg)),
            user_nickname: Some(nickname.to_owned()),
            streak: None,
            data,
            received_at: None,
        };
        self.dispatch(vec![event]);
        self.next_msg
    }

    /// Stores and routes `events` as one batch of the fixture's session.
    fn dispatch(&self, events: Vec<CapturedEvent>) {
        Engine::new(&mut self.conn())
            .dispatch(&Batch {
                session: SessionRef::of(&self.session),
                events,
            })
            .expect("dispatch");
    }

    /// Adds a service routing the given (type, priority) pairs, all SYNC or all ASYNC, kept.
    pub fn add_service(
        &self,
        slug: &str,
        kind: ServiceKind,
        settings: &[(&str, serde_json::Value)],
        is_async: bool,
        routes: &[(EventType, i64)],
    ) -> i64 {
        let detail = services::add(
            &mut self.conn(),
            &NewService {
                name: slug.to_uppercase(),
                slug: slug.parse().expect("slug"),
                kind,
                description: String::new(),
                is_active: true,
                max_queue_size: MaxQueueSize::new(10_000).expect("size"),
                settings: settings
                    .iter()
                    .map(|(k, v)| Setting {
                        key: (*k).to_owned(),
                        value: Some(v.clone()),
                    })
                    .collect(),
                streamers: Vec::new(),
                routes: routes
                    .iter()
                    .map(|&(event_type, p)| EventRoute {
                        event_type,
                        priority: Priority::new(p).expect("priority"),
                        is_async,
                        is_discardable: false,
                        is_enabled: true,
                    })
                    .collect(),
            },
        )
        .expect("add service");
        detail.service.id
    }

    /// Every queue row of a service, by id.
    pub fn items(&self, service_id: i64) -> Vec<QueueItem> {
        use core_models::schema::event_queue as eq;
        let mut conn = self.conn();
        core_models::with_conn!(&mut conn, |c| eq::table
            .filter(eq::service_id.eq(service_id))
            .order(eq::id.asc())
            .select(QueueItem::as_select())
            .load(c)
            .expect("items"))
    }

    pub fn stats(&self, service_id: i64) -> QueueStats {
        Engine::new(&mut self.conn())
            .stats(Some(service_id))
            .expect("stats")
            .pop()
            .expect("service")
    }

    /// Polls `cond` until it holds; on timeout panics with the queues and every daemon's log.
    pub fn wait(&self, timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
        wait_until_or(timeout, what, cond, || {
            let mut out = format!("backend: {:?}\n", self.db.backend());
            if let Ok(stats) = Engine::new(&mut self.conn()).stats(None) {
                out.push_str(&format!("{stats:#?}\n"));
            }
            for log in self.logs.borrow().iter() {
                out.push_str(&format!(
                    "--- {}\n{}\n",
                    log.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
            out
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the daemon with fast test timings; output goes to files in the scratch dir.
    pub fn spawn_worker(&self, name: &str, extra: &[&str]) -> Worker {
        let out = self.path(&format!("{name}.out"));
        let err = self.path(&format!("{name}.err"));
        self.logs.borrow_mut().extend([out.clone(), err.clone()]);
        // Fast test timings, each unless the test sets it; tests run in parallel, so a free
        // port each, unless the test chose.
        let defaults = [
            ("--refresh", "0.3"),
            ("--service-lease", "2"),
            ("--item-lease", "2"),
            ("--shutdown-grace", "5"),
            ("--stats-every", "0"),
            ("--http", "127.0.0.1:0"),
        ];
        let given = |flag: &str| {
            extra.contains(&flag) || (flag == "--http" && extra.contains(&"--no-http"))
        };
        let child = Command::new(env!("CARGO_BIN_EXE_worker-daemon"))
            .args(
                defaults
                    .iter()
                    .filter(|(flag, _)| !given(flag))
                    .flat_map(|(flag, value)| [*flag, *value]),
            )
            .args(extra)
            .env("DATABASE_URL", self.db.url())
            .env("WORKER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out file"))
            .stderr(std::fs::File::create(&err).expect("err file"))
            .spawn()
            .expect("spawn worker-daemon");
        Worker {
            child: Some(child),
            out,
            err,
        }
    }
}

/// A running daemon; killed when dropped.
pub struct Worker {
    pub child: Option<Child>,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Worker {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// The base URL of the daemon's HTTP server, from its `http listening on URL` log line.
    pub fn http_base(&self) -> String {
        let mut base = None;
        wait_until_or(
            Duration::from_secs(60),
            "the daemon's http listening line",
            || {
                base = self.output().lines().find_map(|l| {
                    l.split("http listening on ")
                        .nth(1)
                        .map(|u| u.trim().to_owned())
                });
                base.is_some()
            },
            || self.output(),
        );
        base.expect("base url")
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Like [`wait_until`], printing `context()` on failure.
pub fn wait_until_or(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}\n{}", context());
}

/// Polls `cond` until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

// Not every test binary including this module records jobs.
#[allow(unused_imports)]
pub use test_support::recorder::{max_overlap, recorder, spans};

/// A plain HTTP/1.1 GET: (status, lower-cased head, body).
pub fn http_get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    http_request(base, "GET", path, headers, None)
}

/// One HTTP/1.1 request; returns (status, lower-cased head, body).
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        request.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}
