//! The event vocabulary every crate shares: what happened on a LIVE ([`EventType`],
//! [`CapturedEvent`], gift [`Streak`]s), whose LIVE it was ([`Streamer`]), how urgent it is
//! for a service ([`Priority`]) and how a service's work on it ended ([`Outcome`]).
//!
//! This crate is for the words, not the work: it must never open a connection, touch a
//! database or the network, or pull a driver into the build. The protocol crate (`webcast`)
//! produces [`CapturedEvent`]s with nothing but this crate; the storage side maps the same
//! types to SQL through the `diesel` feature, which only `core-models` turns on.

mod event;
mod names;
mod outcome;
mod priority;
#[cfg(feature = "diesel")]
mod sql;
mod streamer;

pub use event::{CapturedEvent, EventType, Streak, StreakStatus};
pub use names::UnknownName;
pub use outcome::Outcome;
pub use priority::{InvalidPriority, Priority};
pub use streamer::{InvalidStreamer, Streamer};

/// Estimated US dollars per diamond (what viewers pay TikTok for gifts), the estimate the
/// original system and TikTokLive use: a gift's `value_usd` and a report's totals.
pub const USD_PER_DIAMOND: f64 = 0.005;
