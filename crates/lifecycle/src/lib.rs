//! What every long-running task of the three binaries shares: one [`Shutdown`] signal that
//! Ctrl+C, SIGTERM or an embedding program triggers, and one [`Backoff`] for everything that
//! retries (reconnects, database outages, lock conflicts, services that fail to start), and
//! one [`instance_id`] naming the process in the leases it holds.
//!
//! This crate must never know about events, databases or the network: it is the plumbing of a
//! process's lifetime, in the manner of mini-redis' `shutdown.rs`.

mod backoff;
mod instance;
mod shutdown;

pub use backoff::{Backoff, Jitter};
pub use instance::{instance_id, is_gone};
pub use shutdown::{Shutdown, Trigger};
