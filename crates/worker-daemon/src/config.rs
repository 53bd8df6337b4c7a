//! What one daemon runs with: its identity in leases and its timings, shared by every runner.

use std::time::Duration;

/// Settings of one daemon, shared by every runner.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This daemon's identity in leases (`host:pid:random`).
    pub owner: String,
    /// How often the services table is re-read, and a standby retries a lease.
    pub refresh: Duration,
    /// How long a service lease lasts without renewal (renewed every third of it).
    pub service_lease: Duration,
    /// How long an item claim lasts without renewal (renewed every third of it while the
    /// item runs).
    pub item_lease: Duration,
    /// How long shutdown waits for in-flight items before releasing them.
    pub shutdown_grace: Duration,
    /// Print a line per processed item.
    pub verbose: bool,
    /// Print queue statistics this often.
    pub stats_every: Duration,
}

impl WorkerConfig {
    /// The defaults for a daemon with this owner id.
    pub fn new(owner: String) -> WorkerConfig {
        WorkerConfig {
            owner,
            refresh: Duration::from_secs(2),
            service_lease: Duration::from_secs(10),
            item_lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            verbose: false,
            stats_every: Duration::from_secs(30),
        }
    }
}

/// A unique owner id for this process (`host:pid:nonce`).
pub use lifecycle::instance_id as owner_id;
