//! Shared schema, row types, event vocabulary and database access for both backends.

pub mod event;

pub use event::{CapturedEvent, EventType, Streak, StreakStatus, UnknownName};
