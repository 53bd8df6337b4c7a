//! The worker daemon: runs the services. A supervisor follows the `services` table; each
//! service gets a runner that owns it through a lease (one owner across any number of
//! daemons), claims its queue by priority and processes items SYNC (one at a time) or ASYNC
//! (in parallel up to a limit); an HTTP server serves the browser sources (the OBS pages) the
//! `dinochrome` and `overlays` services reach.
//!
//! What it must never do: write SQL. Every call on the queue goes through the queue engine's
//! facade ([`dispatcher::Engine`]) and the services table is read through core-models'
//! repository, both by way of the one `QueueClient`, which runs each operation on the
//! blocking pool; the services never see the queue at all, only [`Job`]s. Nor does it decide
//! what the engine decides (routing, overflow, lock order): it chooses only when to claim, how
//! much, and how to run what it claimed.
//!
//! # Module map
//!
//! One home per concept, and the arrows point one way: a module uses only the ones in its
//! last column, and none of those uses it back (the leaves use nothing else in the crate).
//!
//! | module | what it is | uses |
//! | --- | --- | --- |
//! | [`daemon`] | a whole daemon as one future (`main.rs` runs it, `ctl demo` embeds it) | supervisor, runner, http, stats, config |
//! | `supervisor` | which services run here, following the table while the daemon runs | runner |
//! | [`runner`] | one service's lifecycle (standby, starting, serving, draining) and its claim loop | services, job, queue_client, stats, config |
//! | [`http`] | the server: the control room and its API, the browser sources, WebSockets, `/metrics` | admin, hub, queue_client, runner (skips), stats |
//! | [`admin`] | service changes that must stay runnable (shared with `ctl`) | services |
//! | [`services`] | the [`QueueService`](services::QueueService) trait, the kinds, the registry | job, hub |
//! | [`stats`] | counters, lag histograms, the periodic statistics line | queue_client |
//! | `job` | what a service receives ([`Job`]) and its JSON contract | (leaf) |
//! | `hub` | the connected pages and the deliveries awaiting their ack: services send through it, the server connects pages to it | (leaf) |
//! | `queue_client` | every database call, each one engine operation on the blocking pool | (leaf) |
//! | `config` | [`WorkerConfig`], [`owner_id`] | (leaf) |
//!
//! Inside a module the same holds: its parts use their siblings, never their parent.

pub mod admin;
mod config;
pub mod daemon;
pub mod http;
mod hub;
mod job;
mod queue_client;
pub mod runner;
pub mod services;
pub mod stats;
mod supervisor;

pub use config::{owner_id, WorkerConfig};
pub use job::Job;
