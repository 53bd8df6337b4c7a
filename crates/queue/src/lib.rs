//! The claim side of the event queues (DESIGN §5): what worker daemons use to take items,
//! report on them, survive crashes and share services.
//!
//! A worker daemon, per service:
//! 1. holds the service with [`acquire_service`] and keeps it with [`renew_service`] (a
//!    heartbeat well inside the TTL); if renewal answers false it stops working the service;
//! 2. periodically runs [`rescue_expired`] so items of dead owners come back;
//! 3. [`claim`]s items under a lease (or [`claim_if_owner`], which claims only while the
//!    daemon still holds the service), runs them, and [`complete`]s or [`fail`]s each one,
//!    [`renew`]ing the item lease of long runs; at shutdown it [`release`]s items it claimed
//!    but did not start, then [`release_service`]. A busy worker records outcomes in batches
//!    with [`finish_many`], or with its next claim in one transaction through
//!    [`finish_and_claim_if_owner`].
//!
//! Retention: [`prune`] removes old finished rows in bounded batches.
//!
//! Everything is synchronous diesel on a [`DbConn`](core_models::DbConn); async callers run it
//! on a blocking thread.

mod claim;
mod error;
mod finish;
mod item;
mod lease;
mod prune;
mod rescue;
mod time;

pub use claim::{claim, claim_if_owner, ClaimedItem, MYSQL_CLAIM_SQL, SQLITE_CLAIM_SQL};
pub use error::QueueError;
pub use finish::{finish_and_claim_if_owner, finish_many, Finished, FinishedAndClaimed, Outcome};
pub use item::{complete, fail, release, release_many, renew};
pub use lease::{acquire_service, release_service, renew_service, service_owner, ServiceLease};
pub use prune::prune;
pub use rescue::{rescue_expired, RescueReport};

/// Claims allowed per item before [`rescue_expired`] gives up on it, unless configured.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// Tunables of a worker's use of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Claims allowed per item before an expired lease makes it `failed`.
    pub max_attempts: i32,
    /// Item lease given by a claim (renew it for longer work).
    pub item_lease: std::time::Duration,
    /// Service lease TTL; renew at a third of it or more often.
    pub service_ttl: std::time::Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            item_lease: std::time::Duration::from_secs(60),
            service_ttl: std::time::Duration::from_secs(15),
        }
    }
}
