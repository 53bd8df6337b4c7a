//! What this daemon measures: per service, the items it processed and how long events waited
//! before their processing started.
//!
//! Modules: `counters` (per service, shared by the runners), `lag` (a histogram of the
//! capture → processing lag), `report` (the periodic statistics line built from both).

mod counters;
mod lag;
pub(crate) mod report;

pub use counters::{Counters, ServiceCounters};
pub(crate) use lag::{LagSnapshot, LagSummary};
