//! Helpers for the process tests: the daemon as a child process, DB queries off the runtime,
//! polling, and database outages (a TCP proxy in front of MariaDB; a held write lock on
//! SQLite).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_models::schema::{event_queue as eq, live_events as le, live_sessions as ls, services};
use core_models::{with_conn, Backend, DbConn, DbUrl, LiveEvent, LiveSession};
use diesel::prelude::*;
use test_support::TestDb;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Generous: the machine running the tests may be loaded.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running capture daemon with its output collected.
pub struct Daemon {
    pub child: Child,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let out = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut b) = out.lock() {
                b.push_str(&line);
                b.push('\n');
            }
        }
    });
    buf
}

impl Daemon {
    /// Spawns `capture-daemon` with `args` (no inherited DATABASE_URL / API key).
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capture-daemon"));
        cmd.args(args)
            .env_remove("DATABASE_URL")
            .env_remove("WEBCAST_SIGN_API_KEY")
            .env_remove("WEBCAST_SIGN_SERVER_URL")
            .env_remove("WEBCAST_TIKTOK_BASE_URL")
            .env_remove("CAPTURE_SPOOL_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn capture-daemon");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Daemon {
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the exit (polling, so the runtime is not blocked for long).
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "capture-daemon did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn describe(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The usual arguments against a simulator.
pub fn daemon_args(db_url: &str, sim: &webcast_sim::SimulatorHandle, spool: &Path) -> Vec<String> {
    vec![
        "--database-url".into(),
        db_url.into(),
        "--username".into(),
        sim.username().into(),
        "--room-id".into(),
        sim.room_id().to_string(),
        "--sign-server-url".into(),
        sim.base_url().to_string(),
        "--spool-dir".into(),
        spool.display().to_string(),
        "--reconnect-delay-ms".into(),
        "100".into(),
    ]
}

pub fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `f` with a fresh connection on a blocking thread (the MySQL wrapper must not run on
/// a runtime worker).
pub async fn query<T: Send + 'static>(
    url: &DbUrl,
    f: impl FnOnce(&mut DbConn) -> T + Send + 'static,
) -> T {
    let url = url.clone();
    tokio::task::spawn_blocking(move || {
        // The test's own connection may meet the outage it set up (SQLite: the held write
        // lock while opening); retry for a while rather than fail the test.
        let deadline = Instant::now() + WAIT;
        let mut conn = loop {
            match DbConn::establish(&url) {
                Ok(conn) => break conn,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("test connection failed, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("test connection to {} failed: {e}", url.masked()),
            }
        };
        f(&mut conn)
    })
    .await
    .expect("query task")
}

pub async fn events(url: &DbUrl) -> Vec<LiveEvent> {
    query(url, |c| {
        with_conn!(c, |c| le::table
            .order(le::id)
            .select(LiveEvent::as_select())
            .load(c))
        .expect("events")
    })
    .await
}

pub async fn sessions(url: &DbUrl) -> Vec<LiveSession> {
    query(url, |c| {
        with_conn!(c, |c| ls::table
            .order(ls::id)
            .select(LiveSession::as_select())
            .load(c))
        .expect("sessions")
    })
    .await
}

/// Queue rows per service slug.
pub async fn queue_counts(url: &DbUrl) -> Vec<(String, i64)> {
    query(url, |c| {
        with_conn!(c, |c| eq::table
            .inner_join(services::table)
            .group_by(services::slug)
            .select((services::slug, diesel::dsl::count_star()))
            .order(services::slug)
            .load::<(String, i64)>(c))
        .expect("queue counts")
    })
    .await
}

/// Comments' texts, in storage order.
pub fn comments(events: &[LiveEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type == core_models::EventType::Comment)
        .map(|e| e.data()["comment"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Polls `check` until it returns true.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(what, timeout, check, String::new).await;
}

/// Polls `check` until it returns true; on timeout the panic shows `context()`.
pub async fn wait_for<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
    context: impl Fn() -> String,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn seeded(backend_dbs: Vec<TestDb>) -> Vec<TestDb> {
    for db in &backend_dbs {
        query(db.db_url(), |c| {
            core_models::seed::populate_initial_data(c).expect("seed");
        })
        .await;
    }
    backend_dbs
}

/// A way to make the database unavailable to the daemon and bring it back.
pub enum Outage {
    /// MariaDB behind a proxy that cuts every connection and refuses new ones.
    Proxy(Arc<Proxy>),
    /// SQLite with a write lock held by another connection longer than the busy timeout.
    SqliteLock {
        path: PathBuf,
        release: Option<std::sync::mpsc::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

impl Outage {
    /// The database URL the daemon must use (through the proxy for MySQL).
    pub async fn for_db(db: &TestDb) -> (Outage, String) {
        match db.backend() {
            Backend::Mysql => {
                let mut url = url::Url::parse(db.url()).expect("mysql url");
                let target = format!(
                    "{}:{}",
                    url.host_str().expect("host"),
                    url.port().unwrap_or(3306)
                );
                let proxy = Proxy::start(target).await;
                url.set_port(Some(proxy.port)).expect("port");
                url.set_host(Some("127.0.0.1")).expect("host");
                // mysql_async moves loopback connections to the server's Unix socket unless
                // told not to, which would bypass the proxy.
                url.query_pairs_mut().append_pair("prefer_socket", "false");
                (Outage::Proxy(proxy), url.to_string())
            }
            Backend::Sqlite => (
                Outage::SqliteLock {
                    path: db.db_url().sqlite_path().expect("path").to_path_buf(),
                    release: None,
                    thread: None,
                },
                db.url().to_owned(),
            ),
        }
    }

    /// Makes the database unavailable; returns once it is.
    pub fn begin(&mut self) {
        match self {
            Outage::Proxy(p) => p.cut(),
            Outage::SqliteLock {
                path,
                release,
                thread,
            } => {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
                let url = DbUrl::resolve(Some(&path.display().to_string())).expect("url");
                *thread = Some(std::thread::spawn(move || {
                    use diesel::connection::SimpleConnection;
                    let mut conn = DbConn::establish(&url).expect("connect");
                    let DbConn::Sqlite(c) = &mut conn else {
                        unreachable!()
                    };
                    // Another process writing for a long time (a backup, a migration, a
                    // stuck tool): the daemon's writers wait out their busy timeout and fail
                    // with "database is locked".
                    c.batch_execute("BEGIN EXCLUSIVE").expect("lock");
                    let _ = ready_tx.send(());
                    let _ = rx.recv();
                    c.batch_execute("COMMIT").expect("unlock");
                }));
                ready_rx.recv().expect("locked");
                *release = Some(tx);
            }
        }
    }

    /// Brings the database back.
    pub fn end(&mut self) {
        match self {
            Outage::Proxy(p) => p.resume(),
            Outage::SqliteLock {
                release, thread, ..
            } => {
                if let Some(tx) = release.take() {
                    let _ = tx.send(());
                }
                if let Some(t) = thread.take() {
                    t.join().expect("lock thread");
                }
            }
        }
    }
}

/// A TCP proxy to a MySQL server that can cut every connection and refuse new ones.
pub struct Proxy {
    pub port: u16,
    enabled: AtomicBool,
    conns: Mutex<Vec<JoinHandle<()>>>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    pub async fn start(target: String) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Arc::new(Proxy {
            port,
            enabled: AtomicBool::new(true),
            conns: Mutex::new(Vec::new()),
            accept: Mutex::new(None),
        });
        let p = proxy.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !p.enabled.load(Ordering::SeqCst) {
                    // Refused: closed at once, before the MySQL handshake.
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let a = tokio::io::copy(&mut cr, &mut sw);
                    let b = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! {
                        _ = a => {}
                        _ = b => {}
                    }
                });
                if let Ok(mut conns) = p.conns.lock() {
                    conns.retain(|c| !c.is_finished());
                    conns.push(conn);
                }
            }
        });
        if let Ok(mut a) = proxy.accept.lock() {
            *a = Some(task);
        }
        proxy
    }

    /// Cuts every open connection and refuses new ones.
    pub fn cut(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        if let Ok(mut conns) = self.conns.lock() {
            for c in conns.drain(..) {
                c.abort();
            }
        }
    }

    /// Accepts connections again.
    pub fn resume(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(mut a) = self.accept.lock() {
            if let Some(t) = a.take() {
                t.abort();
            }
        }
    }
}

/// Every msg_id appears once.
pub fn assert_no_duplicate_msg_ids(events: &[LiveEvent]) {
    let mut ids: Vec<i64> = events.iter().filter_map(|e| e.msg_id).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate msg_ids stored");
}

/// A runtime for a test's async part. Test databases are made and dropped outside it: the
/// MySQL wrapper cannot block inside a runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every backend, migrated and seeded with the DinoChrome and Overlays services.
pub fn seeded_dbs() -> Vec<TestDb> {
    let dbs = TestDb::all_migrated();
    for db in &dbs {
        core_models::seed::populate_initial_data(&mut db.conn()).expect("seed");
    }
    dbs
}
