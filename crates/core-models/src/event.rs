//! The event vocabulary, from the `events` crate (which has no database in it); the SQL
//! mappings come with its `diesel` feature.

pub use events::{CapturedEvent, EventType, Streak, StreakStatus, UnknownName};
