//! What the tests of every crate share: a throw-away database on each backend, and a
//! headless-Chromium driver ([`browser`]) for the pages. It is a dev-dependency only: nothing
//! that ships may depend on it, and it must never hide a missing prerequisite (a MySQL server
//! or Chromium that CI was told to use) by skipping a test silently.
//!
//! # Test databases
//!
//! Every test gets its own database, so tests run in parallel: a SQLite file in a temporary
//! directory always, and — when `TEST_MYSQL_URL` is set (CI sets it) — a fresh database on that
//! MySQL/MariaDB server, dropped afterwards. If `TEST_MYSQL_URL` is set but the server cannot be
//! used, the test fails: the MySQL tests are never skipped silently.

pub mod binaries;
pub mod browser;
pub mod galera;
pub mod recorder;

use core_models::{Backend, DbConn, DbUrl};
use diesel::connection::SimpleConnection;

/// One throw-away database.
pub struct TestDb {
    url: String,
    db_url: DbUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    MysqlDatabase { server_url: String, name: String },
}

impl TestDb {
    /// A fresh, unmigrated SQLite database.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("test.sqlite3");
        let url = path.to_str().expect("utf-8 temp path").to_owned();
        TestDb {
            db_url: DbUrl::resolve(Some(&url)).expect("sqlite url"),
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh, unmigrated database on the `TEST_MYSQL_URL` server, or `None` when the
    /// variable is not set.
    pub fn mysql() -> Option<TestDb> {
        let server_url = std::env::var("TEST_MYSQL_URL")
            .ok()
            .filter(|s| !s.is_empty())?;
        let name = format!(
            "tl_test_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let server = DbUrl::resolve(Some(&server_url))
            .unwrap_or_else(|e| panic!("TEST_MYSQL_URL is set but unusable: {e}"));
        let mut admin = DbConn::establish(&server)
            .unwrap_or_else(|e| panic!("TEST_MYSQL_URL is set but unusable: {e}"));
        if let DbConn::Mysql(c) = &mut admin {
            c.batch_execute(&format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            ))
            .expect("create test database");
        }
        let url = server
            .with_database(&name)
            .expect("a MySQL URL")
            .as_arg()
            .to_owned();
        Some(TestDb {
            db_url: DbUrl::resolve(Some(&url)).expect("mysql url"),
            url,
            cleanup: Cleanup::MysqlDatabase { server_url, name },
        })
    }

    /// SQLite, plus MySQL when `TEST_MYSQL_URL` is set.
    pub fn all() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite()];
        v.extend(TestDb::mysql());
        v
    }

    /// Like [`TestDb::all`], each migrated.
    pub fn all_migrated() -> Vec<TestDb> {
        let v = TestDb::all();
        for db in &v {
            db.conn().run_migrations().expect("migrations");
        }
        v
    }

    /// The URL to pass as `--database-url` / `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The resolved URL.
    pub fn db_url(&self) -> &DbUrl {
        &self.db_url
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.db_url.backend()
    }

    /// A new connection.
    pub fn conn(&self) -> DbConn {
        DbConn::establish(&self.db_url).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::MysqlDatabase { server_url, name } = &self.cleanup {
            if let Ok(url) = DbUrl::resolve(Some(server_url)) {
                if let Ok(DbConn::Mysql(mut c)) = DbConn::establish(&url) {
                    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`"));
                }
            }
        }
    }
}
