//! Database access for both backends: URL resolution, connections, transactions, the pool and
//! the embedded migrations.
//!
//! Everything here is synchronous diesel. MySQL/MariaDB goes through diesel-async's
//! [`AsyncConnectionWrapper`] over the pure-Rust `mysql_async` driver, so no MySQL client library
//! or cmake is needed to build; it blocks on its own small runtime, so async callers must run
//! database work on a blocking thread (`tokio::task::spawn_blocking`), never directly on a
//! runtime worker.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::{
    Connection, Instrumentation, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::sqlite::SqliteConnection;
use diesel::RunQueryDsl;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncMysqlConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use lifecycle::{Backoff, Jitter};

use crate::error::{ModelError, ModelResult};

/// A synchronous MySQL/MariaDB connection over the pure-Rust driver.
pub type MysqlConnection = AsyncConnectionWrapper<AsyncMysqlConnection>;

/// Default location of the embedded database when no URL is given.
pub const DEFAULT_SQLITE_PATH: &str = "data/tiklive.sqlite3";

const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Errors from connecting, migrating or querying.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL could not be understood.
    #[error("invalid database URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database did not accept a connection.
    #[error("cannot connect to {url}: {reason}. {hint}")]
    Connect {
        /// The URL, password masked.
        url: String,
        /// The driver's message.
        reason: String,
        /// What to check.
        hint: &'static str,
    },
    /// No pooled connection became free (or could be made) in time.
    #[error("no database connection available for {url}: {reason}")]
    Pool {
        /// The URL, password masked.
        url: String,
        /// The pool's message.
        reason: String,
    },
    /// Applying migrations failed.
    #[error("migration failed on {url}: {reason}")]
    Migration {
        /// The URL, password masked.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A database task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MySQL 8.0+ or MariaDB 10.6+.
    Mysql,
    /// The embedded SQLite file.
    Sqlite,
}

/// A resolved database location.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    backend: Backend,
    /// What the driver is given: a `mysql://` URL or a file path.
    target: String,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.masked())
    }
}

impl DbUrl {
    /// Resolves `--database-url` / `DATABASE_URL`: `mysql://…` (or `mariadb://…`), `sqlite://PATH`,
    /// `sqlite:PATH` or a plain path. `None` or empty means the embedded default file
    /// [`DEFAULT_SQLITE_PATH`] under the current directory.
    pub fn resolve(given: Option<&str>) -> Result<DbUrl, DbError> {
        let given = given.map(str::trim).filter(|s| !s.is_empty());
        let Some(url) = given else {
            return Ok(DbUrl {
                backend: Backend::Sqlite,
                target: DEFAULT_SQLITE_PATH.to_owned(),
            });
        };
        if let Some(rest) = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
        {
            let target = format!("mysql://{rest}");
            let parsed = url::Url::parse(&target).map_err(|e| DbError::InvalidUrl {
                url: mask_password(url),
                reason: e.to_string(),
            })?;
            if parsed.host_str().unwrap_or("").is_empty() {
                return Err(DbError::InvalidUrl {
                    url: mask_password(url),
                    reason: "no host".into(),
                });
            }
            if parsed.path().trim_matches('/').is_empty() {
                return Err(DbError::InvalidUrl {
                    url: mask_password(url),
                    reason: "no database name (expected mysql://user:password@host:3306/database)"
                        .into(),
                });
            }
            return Ok(DbUrl {
                backend: Backend::Mysql,
                target,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if url.contains("://") && !url.starts_with("sqlite://") {
            return Err(DbError::InvalidUrl {
                url: mask_password(url),
                reason: "unsupported scheme (use mysql://…, sqlite://PATH or a file path)".into(),
            });
        }
        if path.is_empty() {
            return Err(DbError::InvalidUrl {
                url: url.to_owned(),
                reason: "empty SQLite path".into(),
            });
        }
        Ok(DbUrl {
            backend: Backend::Sqlite,
            target: path.to_owned(),
        })
    }

    /// Resolves the URL from the environment (`DATABASE_URL`) when `given` is `None`.
    pub fn from_env_or(given: Option<&str>) -> Result<DbUrl, DbError> {
        match given {
            Some(g) => DbUrl::resolve(Some(g)),
            None => DbUrl::resolve(std::env::var("DATABASE_URL").ok().as_deref()),
        }
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For MySQL, the same server and credentials with another database; `None` for SQLite.
    pub fn with_database(&self, name: &str) -> Option<DbUrl> {
        if self.backend != Backend::Mysql {
            return None;
        }
        let url = &self.target;
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url.as_str(), None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let server = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        let target = match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        };
        Some(DbUrl {
            backend: Backend::Mysql,
            target,
        })
    }

    /// The URL to hand to another process (`--database-url`), password included.
    pub fn as_arg(&self) -> &str {
        &self.target
    }

    /// The URL or path, with any password replaced by `****`: safe to print and log.
    pub fn masked(&self) -> String {
        match self.backend {
            Backend::Mysql => mask_password(&self.target),
            Backend::Sqlite => format!("sqlite://{}", self.target),
        }
    }

    /// For SQLite, the database file.
    pub fn sqlite_path(&self) -> Option<&Path> {
        (self.backend == Backend::Sqlite).then(|| Path::new(&self.target))
    }

    /// The directory for files that belong with this database (capture spools): the SQLite
    /// file's directory, or `./data` for a server database.
    pub fn data_dir(&self) -> PathBuf {
        match self.sqlite_path().and_then(Path::parent) {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            Some(_) => PathBuf::from("."),
            None => PathBuf::from("data"),
        }
    }
}

/// Replaces the password of a `scheme://user:password@host` URL with `****`.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:****{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// One connection to either backend. Write queries once with [`with_conn!`](crate::with_conn)
/// and they compile for both.
pub enum DbConn {
    /// MySQL/MariaDB.
    Mysql(MysqlConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Runs the same diesel code against whichever backend `$conn` holds: the body is expanded
/// once per backend, with `$c` bound to the concrete connection.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Mysql($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

impl DbConn {
    /// Opens one connection and prepares its session (isolation, charset, pragmas).
    pub fn establish(url: &DbUrl) -> Result<DbConn, DbError> {
        match url.backend {
            Backend::Mysql => {
                let mut conn = MysqlConnection::establish(&url.target).map_err(|e| {
                    DbError::Connect {
                        url: url.masked(),
                        reason: e.to_string(),
                        hint: "Check that the server is running and reachable, and that the user, password and database in DATABASE_URL / --database-url are right.",
                    }
                })?;
                // READ COMMITTED: under REPEATABLE READ, concurrent claimers block on gap locks
                // and deadlock. Strict mode turns silent truncation into errors; UTC keeps
                // DATETIME values comparable across servers.
                conn.batch_execute(
                    "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci; \
                     SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                     SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'; \
                     SET SESSION time_zone = '+00:00';",
                )
                .map_err(|e| DbError::Connect {
                    url: url.masked(),
                    reason: e.to_string(),
                    hint: "The server accepted the connection but refused the session settings; MySQL 8.0+ or MariaDB 10.6+ is required.",
                })?;
                let server = galera_session(&mut conn).map_err(|e| DbError::Connect {
                    url: url.masked(),
                    reason: e.to_string(),
                    hint: "The server is a Galera node but refused wsrep_sync_wait; MariaDB 10.6+ with galera-4 is required.",
                })?;
                conn.set_instrumentation(SessionWatch::new(server));
                Ok(DbConn::Mysql(conn))
            }
            Backend::Sqlite => {
                let path = Path::new(&url.target);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| DbError::Connect {
                        url: url.masked(),
                        reason: format!("cannot create directory {}: {e}", dir.display()),
                        hint: "Check the path and its permissions.",
                    })?;
                }
                let mut conn =
                    SqliteConnection::establish(&url.target).map_err(|e| DbError::Connect {
                        url: url.masked(),
                        reason: e.to_string(),
                        hint: "Check the path and its permissions.",
                    })?;
                // The busy timeout comes first: it makes this connection wait for other
                // writers instead of failing at once, and switching to WAL itself needs the
                // lock. WAL lets readers (ctl, workers) run beside the capture writer.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 15000; \
                     PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| DbError::Connect {
                    url: url.masked(),
                    reason: e.to_string(),
                    hint: "Check that the file is a SQLite database and that no other program keeps it locked.",
                })?;
                conn.set_instrumentation(SessionWatch::new(ServerInfo::default()));
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    /// True when this connection's server is a Galera cluster node (`wsrep_on`): its session
    /// then waits for the cluster before each read ([`GALERA_SYNC_WAIT`]).
    pub fn is_galera(&mut self) -> diesel::QueryResult<bool> {
        match self {
            DbConn::Mysql(c) => Ok(server_info(c).is_galera),
            DbConn::Sqlite(_) => Ok(false),
        }
    }

    /// True when the engine takes `INSERT … RETURNING` (MariaDB 10.5+ and the bundled
    /// SQLite; not MySQL): a multi-row insert can then hand back the ids it made in the same
    /// statement.
    pub fn insert_returning(&mut self) -> bool {
        match self {
            DbConn::Mysql(c) => server_info(c).insert_returning,
            DbConn::Sqlite(_) => true,
        }
    }

    /// True when this connection must not be used again: a statement failed in a way that
    /// may have left it dead or desynchronised (see [`SessionWatch`]), or a transaction was
    /// left open or could not be rolled back.
    pub fn is_broken(&mut self) -> bool {
        fn open_or_failed<C: Connection>(c: &mut C) -> bool {
            C::TransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()
                .map_or(true, |depth| depth.is_some())
        }
        let failed = with_conn!(self, |c| watch_of(c).is_some_and(|w| w.failed));
        failed || with_conn!(self, |c| open_or_failed(c))
    }

    /// How long since this connection last ran a statement.
    fn idle_for(&mut self) -> Duration {
        with_conn!(self, |c| watch_of(c)
            .map_or(Duration::MAX, |w| w.last_used.elapsed()))
    }

    /// The engine of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Mysql(_) => Backend::Mysql,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    ///
    /// Nested calls become savepoints of the outer transaction. On SQLite the outermost
    /// transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front, so two writers
    /// queue on the busy timeout instead of failing on a lock upgrade.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.begin()?;
        match f(self) {
            Ok(value) => match self.commit() {
                Ok(()) => Ok(value),
                Err(e) => {
                    // A failed COMMIT leaves the transaction open on some engines.
                    let _ = self.rollback();
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Like [`DbConn::transaction`], but a transaction the server rolled back on a transient
    /// conflict (a deadlock, a lock-wait timeout, a Galera certification failure at COMMIT:
    /// see [`is_lock_conflict`]) is run again, on the conflict backoff, up to
    /// [`MAX_TRANSACTION_ATTEMPTS`] times. Every write of a repository function goes through
    /// here (or through the queue engine's retry, built on the same [`retry_transient`]).
    ///
    /// Inside another transaction it runs once: the server rolled the whole transaction back,
    /// so only the outermost one can be run again.
    pub fn write_transaction<T, F>(&mut self, mut f: F) -> ModelResult<T>
    where
        F: FnMut(&mut DbConn) -> ModelResult<T>,
    {
        if self.in_transaction()? {
            return self.transaction(f);
        }
        retry_transient(ModelError::is_conflict, || self.transaction(&mut f))
            .map_err(|failure| failure.error)
    }

    /// True while a transaction (or savepoint) of this connection is open.
    fn in_transaction(&mut self) -> diesel::QueryResult<bool> {
        fn depth<C: Connection>(c: &mut C) -> diesel::QueryResult<bool> {
            Ok(C::TransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()?
                .is_some())
        }
        with_conn!(self, |c| depth(c))
    }

    fn begin(&mut self) -> diesel::QueryResult<()> {
        match self {
            DbConn::Mysql(c) => {
                <MysqlConnection as Connection>::TransactionManager::begin_transaction(c)
            }
            DbConn::Sqlite(c) => {
                use diesel::connection::AnsiTransactionManager;
                let depth = AnsiTransactionManager::transaction_manager_status_mut(c)
                    .transaction_depth()?;
                if depth.is_none() {
                    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
                } else {
                    // Nested: a savepoint inside the outer transaction.
                    AnsiTransactionManager::begin_transaction(c)
                }
            }
        }
    }

    fn commit(&mut self) -> diesel::QueryResult<()> {
        with_conn!(self, |c| commit_on(c))
    }

    fn rollback(&mut self) -> diesel::QueryResult<()> {
        with_conn!(self, |c| rollback_on(c))
    }

    /// Applies every pending migration of this backend; returns the versions applied.
    pub fn run_migrations(&mut self) -> Result<Vec<String>, String> {
        let applied = match self {
            DbConn::Mysql(c) => c.run_pending_migrations(MYSQL_MIGRATIONS),
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        }
        .map_err(|e| e.to_string())?;
        Ok(applied.into_iter().map(|v| v.to_string()).collect())
    }

    /// Migrations of this backend not applied yet.
    pub fn pending_migrations(&mut self) -> Result<Vec<String>, String> {
        match self {
            DbConn::Mysql(c) => pending_names(c, MYSQL_MIGRATIONS),
            DbConn::Sqlite(c) => pending_names(c, SQLITE_MIGRATIONS),
        }
    }

    /// The id generated by this connection's last single-row INSERT.
    pub fn last_insert_id(&mut self) -> diesel::QueryResult<i64> {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        match self {
            // LAST_INSERT_ID() is unsigned; cast so it reads as a signed BIGINT.
            DbConn::Mysql(c) => {
                diesel::select(sql::<BigInt>("CAST(LAST_INSERT_ID() AS SIGNED)")).get_result(c)
            }
            DbConn::Sqlite(c) => diesel::select(sql::<BigInt>("last_insert_rowid()")).get_result(c),
        }
    }

    /// A cheap round trip, used to check a pooled connection is still alive: one text-protocol
    /// query, not a prepared statement (which would cost a prepare and an execute).
    pub fn ping(&mut self) -> diesel::QueryResult<()> {
        with_conn!(self, |c| c.batch_execute("SELECT 1"))
    }
}

fn pending_names<C>(c: &mut C, migrations: EmbeddedMigrations) -> Result<Vec<String>, String>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let pending = c
        .pending_migrations(migrations)
        .map_err(|e| e.to_string())?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}

fn commit_on<C: Connection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::commit_transaction(c)
}

fn rollback_on<C: Connection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::rollback_transaction(c)
}

/// True for MySQL/MariaDB deadlocks (1213) and lock-wait timeouts (1205): the server rolled
/// the transaction (or the statement) back, and running it again can succeed. On a Galera
/// cluster a certification conflict (another node committed a write to the same rows first)
/// fails the COMMIT with the same 1213, as does a transaction aborted by a replicated one
/// ("WSREP detected deadlock/conflict").
pub fn is_lock_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    let Error::DatabaseError(kind, info) = e else {
        return false;
    };
    if matches!(kind, DatabaseErrorKind::SerializationFailure) {
        return true;
    }
    // The pure-Rust driver reports these as `Unknown` with the server's message only.
    let msg = info.message().to_ascii_lowercase();
    msg.contains("deadlock found")
        || msg.contains("lock wait timeout exceeded")
        || msg.contains("try restarting")
        || msg.contains("wsrep detected deadlock")
}

/// Attempts of one transaction before a transient conflict is reported.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 8;

/// The pause before running a conflicted transaction again: 2 ms doubling to 256 ms, plus up
/// to as much again, so that the transactions that collided drift apart.
pub const CONFLICT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(2), Duration::from_millis(256)).with_jitter(Jitter::Up);

/// How [`retry_transient`] ended without a result.
#[derive(Debug)]
pub struct RetryFailure<E> {
    /// The last error: not transient, or transient with every attempt spent.
    pub error: E,
    /// Attempts made (1 when the error was not transient).
    pub attempts: u32,
}

/// Runs `f` (one whole transaction, or one autocommit statement) until it succeeds, fails
/// with an error `is_transient` refuses, or [`MAX_TRANSACTION_ATTEMPTS`] run out, sleeping on
/// [`CONFLICT_BACKOFF`] between attempts. The one retry loop of the workspace's writes:
/// [`DbConn::write_transaction`] and the queue engine's operations are built on it.
pub fn retry_transient<T, E: std::fmt::Display>(
    is_transient: impl Fn(&E) -> bool,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<T, RetryFailure<E>> {
    let mut backoff = CONFLICT_BACKOFF;
    loop {
        let attempts = backoff.failures() + 1;
        match f() {
            Ok(v) => return Ok(v),
            Err(error) if !is_transient(&error) || attempts >= MAX_TRANSACTION_ATTEMPTS => {
                return Err(RetryFailure { error, attempts })
            }
            Err(error) => {
                tracing::debug!(attempts, %error, "transient conflict, retrying");
                std::thread::sleep(backoff.next_delay());
            }
        }
    }
}

/// What a session on a Galera node sets `wsrep_sync_wait` to: 1, so every read (`SELECT`,
/// `SHOW`, `BEGIN`) first waits until the node has applied every write set the cluster
/// committed before it. Without it, a node may answer from a state a few write sets old: a
/// worker could miss what a capture on another node just stored, a capture that failed over
/// could miss its own last batch when it checks for duplicates, and a transaction's new
/// auto-increment ids could come out below ids already committed elsewhere (the claim
/// order relies on them, see the dispatcher's claim). Writes need no wait: certification
/// refuses a write based on a stale row, and the writer retries.
pub const GALERA_SYNC_WAIT: u32 = 1;

/// What a connection's server can do, read once when it connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerInfo {
    /// A Galera cluster node (`wsrep_on`).
    pub is_galera: bool,
    /// Takes `INSERT … RETURNING`: MariaDB 10.5 and later.
    pub insert_returning: bool,
}

impl ServerInfo {
    /// From `wsrep_on` (ON on a Galera node, OFF on MariaDB, missing on MySQL) and `version`
    /// (MariaDB's says so: `10.11.6-MariaDB-…`).
    fn from_variables(wsrep_on: Option<&str>, version: &str) -> ServerInfo {
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let major_minor = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        ServerInfo {
            is_galera: wsrep_on.is_some_and(|v| v.eq_ignore_ascii_case("ON")),
            insert_returning: mariadb && major_minor >= (10, 5),
        }
    }
}

/// The server's `wsrep_on` and `version`, in one statement.
fn server_variables(c: &mut MysqlConnection) -> diesel::QueryResult<ServerInfo> {
    #[derive(diesel::QueryableByName)]
    struct Variable {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "Variable_name")]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "Value")]
        value: String,
    }
    let rows: Vec<Variable> =
        diesel::sql_query("SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'version')")
            .load(c)?;
    let value = |name: &str| {
        rows.iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .map(|v| v.value.as_str())
    };
    Ok(ServerInfo::from_variables(
        value("wsrep_on"),
        value("version").unwrap_or_default(),
    ))
}

/// On a Galera node, makes the session read its writes and everyone's ([`GALERA_SYNC_WAIT`]).
/// Returns what the server can do.
fn galera_session(c: &mut MysqlConnection) -> diesel::QueryResult<ServerInfo> {
    let server = server_variables(c)?;
    if server.is_galera {
        c.batch_execute(&format!("SET SESSION wsrep_sync_wait = {GALERA_SYNC_WAIT}"))?;
    }
    Ok(server)
}

/// How long a pooled connection may sit unused before a checkout pings it first. A
/// connection in steady use is handed out without a round trip (it was fine a moment ago, and
/// if it died since, its first statement fails, [`SessionWatch`] marks it and the pool drops
/// it); one that sat idle through a database restart or a server-side timeout is caught
/// before the caller sees it.
pub const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// What a connection knows about itself, kept as its diesel instrumentation (which sees
/// every statement's end, including `BEGIN`, `COMMIT` and text queries): when it last ran a
/// statement, whether one failed in a way that may have left the connection unusable, and
/// what its server can do.
#[derive(Debug)]
pub struct SessionWatch {
    last_used: Instant,
    failed: bool,
    server: ServerInfo,
}

impl SessionWatch {
    fn new(server: ServerInfo) -> SessionWatch {
        SessionWatch {
            last_used: Instant::now(),
            failed: false,
            server,
        }
    }
}

impl Instrumentation for SessionWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            self.last_used = Instant::now();
            if error.is_some_and(|e| !leaves_connection_usable(e)) {
                self.failed = true;
            }
        }
    }
}

/// True for the errors the server answers on a healthy connection and that the callers
/// handle as part of normal work: lock conflicts (retried) and constraint violations. Any
/// other failure (the driver's I/O errors, a lost connection, a server going away) may have
/// left the connection dead or mid-protocol, so it is not handed out again.
fn leaves_connection_usable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match e {
        Error::DatabaseError(
            Kind::UniqueViolation
            | Kind::ForeignKeyViolation
            | Kind::NotNullViolation
            | Kind::CheckViolation,
            _,
        ) => true,
        e => is_lock_conflict(e),
    }
}

fn watch_of<C: Connection>(c: &mut C) -> Option<&SessionWatch> {
    c.instrumentation().downcast_ref::<SessionWatch>()
}

fn server_info(c: &mut MysqlConnection) -> ServerInfo {
    watch_of(c).map(|w| w.server).unwrap_or_default()
}

/// Opens connections for the pool.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DbUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        DbConn::establish(&self.url)
    }

    /// Called on every checkout: a round trip only for a connection idle longer than
    /// [`IDLE_PING_AFTER`].
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        if conn.idle_for() < IDLE_PING_AFTER {
            return Ok(());
        }
        conn.ping().map_err(DbError::Query)
    }

    /// Called when a connection returns to the pool: a broken one is dropped, not reused.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// A pooled connection; dereferences to [`DbConn`].
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// A pool of connections to one database, for long-running processes.
///
/// A connection idle for a while is pinged before use, and one whose statement failed on a
/// lost connection is dropped when it comes back, so a database restart costs a failed
/// operation at most, not a poisoned pool; a connection in steady use costs no extra round
/// trip.
#[derive(Clone)]
pub struct Db {
    pool: std::sync::Arc<PoolOwner>,
    url: DbUrl,
}

/// Owns the pool and decides where it is finally dropped.
///
/// Each pooled MySQL connection owns a small runtime, and tokio refuses to drop a runtime
/// inside another one; so when the last `Db` goes away in async code, the pool (and its idle
/// connections) is handed to a plain thread to drop.
struct PoolOwner(Option<r2d2::Pool<ConnectionManager>>);

impl Drop for PoolOwner {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(pool));
            }
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.url.masked())
    }
}

/// How a [`Db`] pool is sized.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a checkout waits for a free or new connection.
    pub checkout_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 8,
            checkout_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Connects once (so a wrong URL or a down server fails here, with one clear error), then
    /// builds the pool.
    pub fn connect(url: &DbUrl, options: PoolOptions) -> Result<Db, DbError> {
        let first = DbConn::establish(url)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.checkout_timeout)
            .test_on_check_out(true)
            // r2d2 logs connection errors itself at error level; they surface to callers
            // through `get` anyway.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(ConnectionManager { url: url.clone() });
        Ok(Db {
            pool: std::sync::Arc::new(PoolOwner(Some(pool))),
            url: url.clone(),
        })
    }

    /// Takes a connection from the pool, waiting up to the checkout timeout.
    pub fn get(&self) -> Result<PooledConn, DbError> {
        let pool = self.pool.0.as_ref().ok_or_else(|| DbError::Pool {
            url: self.url.masked(),
            reason: "the pool is closed".into(),
        })?;
        pool.get().map_err(|e| DbError::Pool {
            url: self.url.masked(),
            reason: e.to_string(),
        })
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool: the bridge from async code
    /// (which must never block a runtime worker, and cannot drive the MySQL wrapper's own
    /// runtime from inside another) to this synchronous layer.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        {
            Ok(result) => result,
            Err(e) => Err(DbError::Task(e.to_string()).into()),
        }
    }

    /// Where this pool connects.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.url.backend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(
            mask_password("mysql://app:s3cret@db:3306/tiklive"),
            "mysql://app:****@db:3306/tiklive"
        );
        assert_eq!(
            mask_password("mysql://root@127.0.0.1/x"),
            "mysql://root@127.0.0.1/x"
        );
        assert_eq!(mask_password("data/x.sqlite3"), "data/x.sqlite3");
        assert_eq!(
            mask_password("mysql://u:p@ss@h/d"),
            "mysql://u:****@h/d",
            "the last @ ends the user info"
        );
    }

    #[test]
    fn lock_conflicts_are_recognised() {
        use diesel::result::{DatabaseErrorKind::*, Error};
        let db = |kind, msg: &str| Error::DatabaseError(kind, Box::new(msg.to_owned()));
        let deadlock = "Deadlock found when trying to get lock; try restarting transaction";
        assert!(is_lock_conflict(&db(Unknown, deadlock)));
        assert!(is_lock_conflict(&db(
            Unknown,
            "Lock wait timeout exceeded; try restarting transaction"
        )));
        assert!(is_lock_conflict(&db(
            Unknown,
            "WSREP detected deadlock/conflict and aborted the transaction. Try restarting the transaction"
        )));
        assert!(!is_lock_conflict(&db(UniqueViolation, "Duplicate entry")));
        assert!(!is_lock_conflict(&Error::NotFound));
    }

    #[test]
    fn retries_transient_errors_then_gives_up() {
        let mut calls = 0;
        let r: Result<(), _> = retry_transient(
            |_: &String| true,
            || {
                calls += 1;
                Err("conflict".to_owned())
            },
        );
        let failure = r.unwrap_err();
        assert_eq!(failure.attempts, MAX_TRANSACTION_ATTEMPTS);
        assert_eq!(calls, MAX_TRANSACTION_ATTEMPTS);
        let mut calls = 0;
        let r = retry_transient(
            |e: &String| e == "conflict",
            || {
                calls += 1;
                match calls {
                    1..=3 => Err("conflict".to_owned()),
                    _ => Ok(calls),
                }
            },
        );
        assert_eq!(r.unwrap(), 4);
        let r: Result<(), _> = retry_transient(|e: &String| e == "conflict", || Err("bad".into()));
        let failure = r.unwrap_err();
        assert_eq!((failure.error.as_str(), failure.attempts), ("bad", 1));
    }

    #[test]
    fn reads_what_the_server_can_do_from_its_variables() {
        let maria = ServerInfo::from_variables(Some("OFF"), "10.11.6-MariaDB-0+deb12u1");
        assert!(!maria.is_galera && maria.insert_returning);
        let galera = ServerInfo::from_variables(Some("ON"), "10.6.16-MariaDB-log");
        assert!(galera.is_galera && galera.insert_returning);
        let old = ServerInfo::from_variables(Some("OFF"), "10.4.32-MariaDB");
        assert!(!old.insert_returning, "RETURNING on INSERT came with 10.5");
        let mysql = ServerInfo::from_variables(None, "8.0.36");
        assert!(!mysql.is_galera && !mysql.insert_returning);
    }

    #[test]
    fn a_connection_survives_conflicts_and_constraints_only() {
        use diesel::result::{DatabaseErrorKind::*, Error};
        let db = |kind, msg: &str| Error::DatabaseError(kind, Box::new(msg.to_owned()));
        assert!(leaves_connection_usable(&db(
            UniqueViolation,
            "Duplicate entry"
        )));
        assert!(leaves_connection_usable(&db(
            Unknown,
            "Deadlock found when trying to get lock; try restarting transaction"
        )));
        for lost in [
            "Input/output error: Connection reset by peer (os error 104)",
            "Connection to the server is closed.",
            "Server shutdown in progress",
        ] {
            assert!(!leaves_connection_usable(&db(Unknown, lost)), "{lost}");
        }
    }

    #[test]
    fn the_conflict_backoff_doubles_from_2_to_256_ms() {
        for (n, base) in [(1, 2), (2, 4), (8, 256), (20, 256)] {
            let d = CONFLICT_BACKOFF.delay(n);
            let base = Duration::from_millis(base);
            assert!(d >= base && d < base * 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn resolves_urls() {
        let default = DbUrl::resolve(None).unwrap();
        assert_eq!(default.backend(), Backend::Sqlite);
        assert_eq!(default.sqlite_path(), Some(Path::new(DEFAULT_SQLITE_PATH)));
        assert_eq!(default.data_dir(), PathBuf::from("data"));

        let file = DbUrl::resolve(Some("sqlite:///tmp/a/b.db")).unwrap();
        assert_eq!(file.sqlite_path(), Some(Path::new("/tmp/a/b.db")));

        let my = DbUrl::resolve(Some("mysql://u:pw@localhost:3306/db")).unwrap();
        assert_eq!(my.backend(), Backend::Mysql);
        assert_eq!(my.masked(), "mysql://u:****@localhost:3306/db");
        assert!(!format!("{my:?}").contains("pw"));

        let other = my.with_database("scratch").unwrap();
        assert_eq!(other.masked(), "mysql://u:****@localhost:3306/scratch");
        let q = DbUrl::resolve(Some("mysql://h/a?ssl-mode=disabled")).unwrap();
        assert_eq!(
            q.with_database("x").unwrap().as_arg(),
            "mysql://h/x?ssl-mode=disabled"
        );
        assert!(default.with_database("x").is_none());

        for bad in ["postgres://x/y", "mysql://u:pw@localhost:3306"] {
            let err = DbUrl::resolve(Some(bad)).unwrap_err().to_string();
            assert!(!err.contains("pw@"), "password leaked: {err}");
            assert!(err.starts_with("invalid database URL"), "{err}");
        }
    }
}
