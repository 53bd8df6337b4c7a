//! What one [`dispatch`](crate::dispatch) did, per service, for the capture daemon to print
//! and count.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Outcome of one batch per service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    /// The service's slug.
    pub slug: String,
    /// New events accepted into the queue as `pending` (rules 1, 2 and 4 of DESIGN §5;
    /// overflowing ones included).
    pub enqueued: u64,
    /// Pending items discarded to make room for a higher-priority event (rule 2), including
    /// items enqueued earlier in the same batch.
    pub discarded_victim: u64,
    /// Discardable new events that found the queue full and no victim, recorded as
    /// `discarded` rows (rule 3).
    pub discarded_new: u64,
    /// Non-discardable events enqueued over the limit (rule 4).
    pub overflow: u64,
    /// Events whose every matching rule was cooling down, recorded as `discarded` rows
    /// (reason `cooldown`).
    pub cooldown: u64,
}

/// Outcome of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    /// Events stored in `live_events`.
    pub stored: u64,
    /// Events skipped because their (room, msg_id) was already stored (or repeated in the
    /// batch): neither stored nor dispatched again.
    pub duplicates: u64,
    /// For each input event, in order, the `live_events` id it was stored as, or `None` for a
    /// duplicate.
    pub event_ids: Vec<Option<i64>>,
    /// Per service id, only services that received something.
    pub services: BTreeMap<i64, ServiceReport>,
    /// Pending items discarded (reason `deleted`) because a CommentDeletedEvent of the batch
    /// deleted their comment.
    pub deleted: u64,
}

impl DispatchReport {
    /// Sum over services.
    pub fn totals(&self) -> ServiceReport {
        let mut t = ServiceReport {
            slug: "*".into(),
            ..ServiceReport::default()
        };
        for s in self.services.values() {
            t.enqueued += s.enqueued;
            t.discarded_victim += s.discarded_victim;
            t.discarded_new += s.discarded_new;
            t.overflow += s.overflow;
            t.cooldown += s.cooldown;
        }
        t
    }
}

impl fmt::Display for DispatchReport {
    /// One line: `stored 12, duplicates 0; dinochrome +10 -1/-1 overflow 0; …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored {}, duplicates {}", self.stored, self.duplicates)?;
        if self.deleted > 0 {
            write!(f, ", deleted comments' items {}", self.deleted)?;
        }
        for s in self.services.values() {
            write!(
                f,
                "; {}: enqueued {}, discarded {} old / {} new, overflow {}",
                s.slug, s.enqueued, s.discarded_victim, s.discarded_new, s.overflow
            )?;
            if s.cooldown > 0 {
                write!(f, ", cooling down {}", s.cooldown)?;
            }
        }
        Ok(())
    }
}
