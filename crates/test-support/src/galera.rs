//! A 3-node MariaDB Galera cluster behind HAProxy for the tests that need one, started with
//! the repository's harness `scripts/galera-cluster.sh` (see its header for ports and users).
//!
//! The cluster takes root, the Debian packages and about 20 s to start, and its ports are
//! fixed, so these tests run only when `TEST_GALERA` is set (`.ci/run` sets it in a step of its
//! own); otherwise [`GaleraCluster::start`] says why it skips and returns `None`. When
//! `TEST_GALERA` is set and the harness cannot start the cluster, the test fails: it is never
//! skipped silently where it was asked for.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use core_models::{DbConn, DbUrl};
use diesel::connection::SimpleConnection;

/// Tests in one binary share the fixed ports: one cluster at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The harness script, from any crate's tests.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/galera-cluster.sh")
}

/// The port HAProxy listens on; the nodes are on the next three.
fn base_port() -> u16 {
    std::env::var("GALERA_BASE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(23060)
}

/// A running cluster; stopped (every node and HAProxy, its directory removed) when dropped.
pub struct GaleraCluster {
    _turn: MutexGuard<'static, ()>,
}

impl GaleraCluster {
    /// Starts a fresh cluster, or returns `None` (after saying why) when `TEST_GALERA` is not
    /// set. Panics with the harness's message when it is set and the cluster cannot start.
    pub fn start() -> Option<GaleraCluster> {
        if std::env::var("TEST_GALERA").map_or(true, |v| v.is_empty()) {
            eprintln!(
                "note: Galera test skipped: set TEST_GALERA=1 to run it (as root, with \
                 mariadb-server, galera-4, rsync and haproxy installed; scripts/galera-cluster.sh \
                 starts the cluster)"
            );
            return None;
        }
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .output()
            .expect("run scripts/galera-cluster.sh");
        assert!(
            out.status.success(),
            "TEST_GALERA is set but the Galera cluster did not start (exit {:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(GaleraCluster { _turn: turn })
    }

    /// `mysql://` URL of node `n` (1..=3), database `db`.
    pub fn node_url(&self, n: u16, db: &str) -> String {
        assert!((1..=3).contains(&n), "nodes are 1..=3");
        format!("mysql://tiklive:tiklive@127.0.0.1:{}/{db}", base_port() + n)
    }

    /// `mysql://` URL through HAProxy (node 1 while it is up, then node 2, then node 3).
    pub fn proxy_url(&self, db: &str) -> String {
        format!("mysql://tiklive:tiklive@127.0.0.1:{}/{db}", base_port())
    }

    /// Creates database `name` (replicated to every node) and returns it.
    pub fn create_database(&self, name: &str) -> String {
        let url = DbUrl::resolve(Some(&self.node_url(1, "mysql"))).expect("node url");
        match DbConn::establish(&url).expect("connect to node 1") {
            DbConn::Mysql(mut c) => c
                .batch_execute(&format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ))
                .expect("create database"),
            DbConn::Sqlite(_) => unreachable!("a mysql URL"),
        }
        name.to_owned()
    }

    /// Kills node `n` with SIGKILL, as a crash would.
    pub fn kill9(&self, n: u16) {
        self.harness(&["kill9", &n.to_string()]);
    }

    /// Each node's state and the cluster size, for failure messages.
    pub fn status(&self) -> String {
        self.harness(&["status"])
    }

    fn harness(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .output()
            .expect("run scripts/galera-cluster.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "galera-cluster.sh {args:?}: {text}");
        text
    }
}

impl Drop for GaleraCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").status();
    }
}
