//! The overflow policy of DESIGN §5, as pure in-memory decisions over one service's queue.
//!
//! The batch knows, per service, how many items are pending (a bounded count) and the few
//! lowest-priority discardable pending items that could be victims; it then applies its events
//! in order, so items enqueued earlier in the same batch are counted and are candidates too.

use std::collections::BTreeSet;

use core_models::Priority;

/// A pending item that may become a victim: a stored row, or a row of this batch (by its index
/// in the batch's row list). Stored rows are older than every row of the batch, and both kinds
/// are ordered by age, so the derived order (`Stored` before `New`) is "oldest first".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Candidate {
    /// An `event_queue` row already in the database, by id.
    Stored(i64),
    /// A row of this batch, by index.
    New(usize),
}

/// What to do with one new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Rule 1: there is room.
    Enqueue,
    /// Rule 2: the queue is full; discard this pending item and enqueue.
    Replace(Candidate),
    /// Rule 3: full, no victim, discardable: record the new event as `discarded`.
    DiscardNew,
    /// Rule 4: full, no victim, not discardable: enqueue over the limit.
    Overflow,
}

/// One service's queue as the batch sees it.
#[derive(Debug, Clone)]
pub(crate) struct QueueState {
    max: u64,
    /// Pending items, possibly capped at `max` (only "below the limit or not" matters, and the
    /// count never goes down during a batch).
    pending: u64,
    /// Pending discardable items that could be victims, by (priority, age).
    candidates: BTreeSet<(Priority, Candidate)>,
}

impl QueueState {
    /// A queue with `pending` items (counted up to at least `max`) and these victim
    /// candidates: `(priority, id)` of stored pending discardable rows. Stored candidates need
    /// only be the lowest ones: a batch of n events takes at most n victims, lowest first.
    pub(crate) fn new(
        max: u64,
        pending: u64,
        stored: impl IntoIterator<Item = (Priority, i64)>,
    ) -> Self {
        QueueState {
            max,
            pending,
            candidates: stored
                .into_iter()
                .map(|(p, id)| (p, Candidate::Stored(id)))
                .collect(),
        }
    }

    /// Decides for a new event of `priority` that becomes row `index` of the batch, and
    /// updates the state as if the decision were applied.
    pub(crate) fn decide(
        &mut self,
        index: usize,
        priority: Priority,
        discardable: bool,
    ) -> Decision {
        let decision = if self.pending < self.max {
            self.pending += 1;
            Decision::Enqueue
        } else {
            match self.candidates.first().copied() {
                Some((p, victim)) if p < priority => {
                    self.candidates.remove(&(p, victim));
                    // One out, one in: the pending count is unchanged.
                    Decision::Replace(victim)
                }
                _ if discardable => Decision::DiscardNew,
                _ => {
                    self.pending += 1;
                    Decision::Overflow
                }
            }
        };
        if discardable && matches!(decision, Decision::Enqueue | Decision::Replace(_)) {
            self.candidates.insert((priority, Candidate::New(index)));
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i64) -> Priority {
        Priority::new(n).expect("1 to 10")
    }

    #[test]
    fn enqueues_below_the_limit() {
        let mut q = QueueState::new(2, 0, []);
        assert_eq!(q.decide(0, p(1), true), Decision::Enqueue);
        assert_eq!(q.decide(1, p(1), true), Decision::Enqueue);
        assert_eq!(
            q.decide(2, p(1), true),
            Decision::DiscardNew,
            "equal priority is no victim"
        );
    }

    #[test]
    fn picks_lowest_priority_then_oldest_strictly_below() {
        let mut q = QueueState::new(3, 3, [(p(3), 10), (p(2), 12), (p(2), 11)]);
        assert_eq!(
            q.decide(0, p(5), true),
            Decision::Replace(Candidate::Stored(11))
        );
        assert_eq!(
            q.decide(1, p(5), true),
            Decision::Replace(Candidate::Stored(12))
        );
        // Now (3, 10) and the two new (5, …) rows; a priority-3 event finds nothing below it.
        assert_eq!(q.decide(2, p(3), true), Decision::DiscardNew);
        assert_eq!(q.decide(3, p(3), false), Decision::Overflow);
        assert_eq!(
            q.decide(4, p(4), false),
            Decision::Replace(Candidate::Stored(10))
        );
        assert_eq!(
            q.decide(5, p(6), true),
            Decision::Replace(Candidate::New(0))
        );
    }

    #[test]
    fn non_discardable_rows_are_never_victims() {
        let mut q = QueueState::new(1, 0, []);
        assert_eq!(q.decide(0, p(1), false), Decision::Enqueue);
        assert_eq!(q.decide(1, p(10), true), Decision::DiscardNew);
        assert_eq!(q.decide(2, p(10), false), Decision::Overflow);
    }
}
