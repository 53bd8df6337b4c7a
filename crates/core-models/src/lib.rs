//! Shared schema, row types, event vocabulary and database access for both backends: the
//! tables, the connection, and the repository functions of services, configs, sessions and
//! settings.
//!
//! It must never hold queue logic: every statement on `event_queue` and `service_leases`, and
//! every write of `live_events`, belongs to the queue engine (`dispatcher`), which calls this
//! crate for the rest of a change it makes (a session's event count, a removed service's
//! configs).
//!
//! Everything is synchronous diesel (see [`db`] for how async daemons should call it). Queries
//! are written once and run on MySQL/MariaDB or SQLite through [`with_conn!`].

pub mod config_store;
pub mod db;
pub mod error;
pub mod event;
pub mod event_search;
pub mod models;
pub mod report;
// diesel's `table!` generates the column structs without docs; the tables are documented in
// DESIGN.md and the migrations.
pub mod rules;
#[allow(missing_docs)]
pub mod schema;
pub mod scopes;
pub mod seed;
pub mod services;
pub mod sessions;
mod sql_text;
pub mod status;
pub mod stmt;
pub mod text;
pub mod validate;

pub use db::{Backend, Db, DbConn, DbError, DbUrl, PoolOptions, PooledConn};
pub use error::{ModelError, ModelResult};
pub use event::{CapturedEvent, EventType, Streak, StreakStatus, UnknownName};
pub use events::Streamer;
pub use models::{
    ConfigEntry, LiveEvent, LiveSession, QueueItem, Rule, Service, ServiceEventConfig,
};
pub use rules::{Conditions, Cooldown, StreakPolicy};
pub use status::{QueueReason, QueueStatus, ServiceKind, SessionStatus};
pub use validate::{EventRoute, MaxQueueSize, Priority, Setting, Slug};
