//! The capture path: one TikTok LIVE, from the webcast client's events to committed batches.
//! [`capture_live`] runs one capture until the LIVE ends or its [`lifecycle::Shutdown`] fires:
//! a session in `live_sessions`, a console line per event, and every frame handed to the
//! [`committer`], which keeps it in the [`spool`] until the queue engine has stored and
//! routed it, so nothing is lost while the database is away and nothing is stored twice. The
//! `capture-daemon` binary is a thin wrapper around it; `ctl demo` embeds it next to the
//! simulator and the workers, and `ctl bench` measures its committer directly.
//!
//! This crate must never write SQL on the queue tables or store events itself: every event
//! reaches `live_events` and the queues through one call of the engine's facade
//! ([`dispatcher::Engine::dispatch`]) per transaction. It must never decode the protocol
//! either (that is `webcast`'s), nor decide what a service does with an event.

mod capture;
pub mod cli;
pub mod committer;
pub mod console;
pub mod error;
mod lease;
mod record;
mod session;
pub mod spool;
mod target;

pub use capture::capture_live;
