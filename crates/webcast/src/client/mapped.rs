//! What one fetch result becomes, whether it came over the socket (a frame) or over HTTP (the
//! history of a signed fetch).

use std::time::Instant;

use chrono::{DateTime, Utc};
use events::{CapturedEvent, EventType};

use crate::decode::DecodedBatch;
use crate::mapping::Mapper;

/// The events of one fetch result, in order.
pub(super) struct Mapped {
    /// The events; when the stream ended in this result, the streaks its end closed come just
    /// before the LiveEnd event, in the same batch.
    pub(super) events: Vec<CapturedEvent>,
    /// The result holds the stream's end.
    pub(super) ended: bool,
}

/// Maps `batch`; its own events are stamped with `received_at` (a frame's receive time; the
/// synthesised ends of streaks carry none).
pub(super) fn map(
    mapper: &mut Mapper,
    batch: &DecodedBatch,
    received_at: Option<DateTime<Utc>>,
) -> Mapped {
    let now = Instant::now();
    let mut events = mapper.map_batch(batch, now);
    if let Some(at) = received_at {
        for event in &mut events {
            event.received_at = Some(at);
        }
    }
    let end = events
        .iter()
        .position(|e| e.event_type == EventType::LiveEnd);
    if let Some(at) = end {
        let closing = mapper.finish_streaks(now);
        events.splice(at..at, closing);
    }
    Mapped {
        events,
        ended: end.is_some(),
    }
}
