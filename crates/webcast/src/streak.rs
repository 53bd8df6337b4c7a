//! Gift streaks (combos), by the rule of reference §5.3.
//!
//! TikTok sends one message per combo step with a *cumulative* `repeat_count`, then a closing
//! message with `repeat_end = 1`. Steps can arrive out of order (15, 14, 17, 16), the closing
//! message can be lost, and a non-streakable gift comes once with no closing message. So:
//! - a streak is keyed by (sender id, group_id) and keeps the max `repeat_count` seen;
//! - it is finalised by `repeat_end`, or by [`StreakTracker::expire`] after a quiet timeout;
//! - a later message of a finalised streak is ignored, unless its count is higher than the
//!   total the streak was closed with: then it corrects the total (real 2023 captures show
//!   end messages up to 4 s after the last step, so a timeout can close a streak early);
//! - the total is never a sum of counts (the original system's bug).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use events::StreakStatus;

/// How long a finalised streak is remembered so that its stragglers are ignored.
const FINALISED_MEMORY: Duration = Duration::from_secs(600);

/// Identifies one streak: the sender and TikTok's combo id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreakKey {
    /// The sender's user id.
    pub sender_id: i64,
    /// `WebcastGiftMessage.group_id`.
    pub group_id: i64,
}

impl fmt::Display for StreakKey {
    /// The stable streak id stored with every event of the streak.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.sender_id, self.group_id)
    }
}

/// The streak-relevant facts of one gift message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiftStep {
    /// The sender's user id.
    pub sender_id: i64,
    /// `group_id` (0 for non-streakable gifts).
    pub group_id: i64,
    /// Cumulative count within the streak.
    pub repeat_count: i64,
    /// Whether this is the closing message.
    pub repeat_end: bool,
    /// Whether the gift is streakable (`gift.type == 1`).
    pub streakable: bool,
}

/// What to do with one gift message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakOutcome {
    /// A non-streakable gift: one event, no streak.
    Single {
        /// The count of this gift.
        total: i64,
    },
    /// A step of a streak.
    Step {
        /// The streak.
        key: StreakKey,
        /// start, continue or end.
        status: StreakStatus,
        /// The streak's real total so far (max of counts seen).
        total: i64,
    },
    /// A message of a streak that is already finalised, with nothing new: emit nothing.
    Ignored {
        /// The streak.
        key: StreakKey,
    },
    /// A message of a finalised streak with a count above the total it was closed with: the
    /// streak's total grows to it.
    Corrected {
        /// The streak.
        key: StreakKey,
        /// The new total.
        total: i64,
        /// What the total was when the streak was closed (or last corrected).
        previous: i64,
    },
}

/// A streak closed by the timeout because its end message never came.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredStreak<T> {
    /// The streak.
    pub key: StreakKey,
    /// Its total (max count seen).
    pub total: i64,
    /// The context stored with its last message (the mapper keeps the gift message here).
    pub last: T,
}

#[derive(Debug)]
struct OpenStreak<T> {
    max_count: i64,
    last_update: Instant,
    last: T,
}

/// A streak that is over: when, and with which total (what a late step is compared to).
#[derive(Debug, Clone, Copy)]
struct Finalised {
    at: Instant,
    total: i64,
}

/// Tracks open streaks. `T` is context kept with each streak (its latest message) so that a
/// timeout can produce a complete end event.
#[derive(Debug)]
pub struct StreakTracker<T> {
    timeout: Duration,
    open: HashMap<StreakKey, OpenStreak<T>>,
    finalised: HashMap<StreakKey, Finalised>,
}

impl<T: Clone> StreakTracker<T> {
    /// A tracker that finalises a streak after `timeout` without updates.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            open: HashMap::new(),
            finalised: HashMap::new(),
        }
    }

    /// Number of streaks still open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Feeds one gift message.
    pub fn observe(&mut self, step: GiftStep, context: T, now: Instant) -> StreakOutcome {
        if !step.streakable {
            return StreakOutcome::Single {
                total: step.repeat_count.max(1),
            };
        }
        let key = StreakKey {
            sender_id: step.sender_id,
            group_id: step.group_id,
        };
        if let Some(done) = self.finalised.get_mut(&key) {
            if step.repeat_count <= done.total {
                return StreakOutcome::Ignored { key };
            }
            let previous = std::mem::replace(&mut done.total, step.repeat_count);
            return StreakOutcome::Corrected {
                key,
                total: step.repeat_count,
                previous,
            };
        }
        let (status, total) = match self.open.get_mut(&key) {
            Some(open) => {
                open.max_count = open.max_count.max(step.repeat_count);
                open.last_update = now;
                open.last = context;
                let status = if step.repeat_end {
                    StreakStatus::End
                } else {
                    StreakStatus::Continue
                };
                (status, open.max_count)
            }
            None if step.repeat_end => (StreakStatus::End, step.repeat_count.max(1)),
            None => {
                self.open.insert(
                    key,
                    OpenStreak {
                        max_count: step.repeat_count.max(1),
                        last_update: now,
                        last: context,
                    },
                );
                (StreakStatus::Start, step.repeat_count.max(1))
            }
        };
        if status == StreakStatus::End {
            self.open.remove(&key);
            self.finalised.insert(key, Finalised { at: now, total });
        }
        StreakOutcome::Step { key, status, total }
    }

    /// Finalises the streaks that had no update for the timeout, and forgets finalised streaks
    /// old enough that no straggler can still arrive.
    pub fn expire(&mut self, now: Instant) -> Vec<ExpiredStreak<T>> {
        let timeout = self.timeout;
        let due: Vec<StreakKey> = self
            .open
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_update) >= timeout)
            .map(|(k, _)| *k)
            .collect();
        self.finalised
            .retain(|_, f| now.saturating_duration_since(f.at) < FINALISED_MEMORY.max(timeout));
        due.into_iter()
            .filter_map(|key| self.close(key, now))
            .collect()
    }

    /// Finalises every open streak now (stream end, shutdown).
    pub fn finish_all(&mut self, now: Instant) -> Vec<ExpiredStreak<T>> {
        let keys: Vec<StreakKey> = self.open.keys().copied().collect();
        keys.into_iter()
            .filter_map(|key| self.close(key, now))
            .collect()
    }

    fn close(&mut self, key: StreakKey, now: Instant) -> Option<ExpiredStreak<T>> {
        let open = self.open.remove(&key)?;
        self.finalised.insert(
            key,
            Finalised {
                at: now,
                total: open.max_count,
            },
        );
        Some(ExpiredStreak {
            key,
            total: open.max_count,
            last: open.last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(count: i64, end: bool) -> GiftStep {
        GiftStep {
            sender_id: 1,
            group_id: 100,
            repeat_count: count,
            repeat_end: end,
            streakable: true,
        }
    }

    fn run(
        tracker: &mut StreakTracker<()>,
        steps: &[(i64, bool)],
        t0: Instant,
    ) -> Vec<StreakOutcome> {
        steps
            .iter()
            .map(|&(c, e)| tracker.observe(step(c, e), (), t0))
            .collect()
    }

    fn statuses_and_totals(out: &[StreakOutcome]) -> Vec<(StreakStatus, i64)> {
        out.iter()
            .filter_map(|o| match o {
                StreakOutcome::Step { status, total, .. } => Some((*status, *total)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn complete_streak_start_continue_end() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let out = run(
            &mut t,
            &[(1, false), (2, false), (3, false), (3, true)],
            Instant::now(),
        );
        assert_eq!(
            statuses_and_totals(&out),
            vec![
                (StreakStatus::Start, 1),
                (StreakStatus::Continue, 2),
                (StreakStatus::Continue, 3),
                (StreakStatus::End, 3)
            ]
        );
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn out_of_order_counts_never_lower_or_inflate_the_total() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let out = run(
            &mut t,
            &[
                (15, false),
                (14, false),
                (17, false),
                (16, false),
                (17, true),
            ],
            Instant::now(),
        );
        let totals: Vec<i64> = statuses_and_totals(&out).iter().map(|s| s.1).collect();
        assert_eq!(totals, vec![15, 15, 17, 17, 17]);
    }

    #[test]
    fn end_with_lower_count_keeps_the_tracked_max() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let out = run(&mut t, &[(1, false), (5, false), (4, true)], Instant::now());
        assert_eq!(
            statuses_and_totals(&out).last(),
            Some(&(StreakStatus::End, 5))
        );
    }

    #[test]
    fn lost_end_is_finalised_by_timeout_and_stragglers_ignored() {
        let mut t = StreakTracker::new(Duration::from_millis(100));
        let t0 = Instant::now();
        run(&mut t, &[(1, false), (3, false), (2, false)], t0);
        assert!(t.expire(t0 + Duration::from_millis(50)).is_empty());
        let expired = t.expire(t0 + Duration::from_millis(100));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].total, 3);
        assert_eq!(expired[0].key.to_string(), "1-100");
        let same = t.observe(step(3, true), (), t0 + Duration::from_millis(200));
        assert!(matches!(same, StreakOutcome::Ignored { .. }));
    }

    #[test]
    fn a_late_step_after_a_timeout_close_corrects_the_total() {
        let mut t = StreakTracker::new(Duration::from_millis(100));
        let t0 = Instant::now();
        run(&mut t, &[(1, false), (2, false)], t0);
        assert_eq!(t.expire(t0 + Duration::from_millis(100))[0].total, 2);
        let late = t0 + Duration::from_millis(150);
        assert_eq!(
            t.observe(step(4, false), (), late),
            StreakOutcome::Corrected {
                key: StreakKey {
                    sender_id: 1,
                    group_id: 100
                },
                total: 4,
                previous: 2
            }
        );
        // The end message with the same final count adds nothing; a still higher one does.
        assert!(matches!(
            t.observe(step(4, true), (), late),
            StreakOutcome::Ignored { .. }
        ));
        assert!(matches!(
            t.observe(step(5, true), (), late),
            StreakOutcome::Corrected {
                total: 5,
                previous: 4,
                ..
            }
        ));
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn messages_after_end_are_ignored_unless_they_raise_the_total() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let out = run(
            &mut t,
            &[(1, false), (1, true), (1, true), (1, false), (2, false)],
            Instant::now(),
        );
        assert!(matches!(out[2], StreakOutcome::Ignored { .. }));
        assert!(matches!(out[3], StreakOutcome::Ignored { .. }));
        assert!(matches!(
            out[4],
            StreakOutcome::Corrected {
                total: 2,
                previous: 1,
                ..
            }
        ));
    }

    #[test]
    fn lone_end_message_finalises_at_once() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let out = run(&mut t, &[(2, true)], Instant::now());
        assert_eq!(statuses_and_totals(&out), vec![(StreakStatus::End, 2)]);
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn non_streakable_gift_is_single() {
        let mut t: StreakTracker<()> = StreakTracker::new(Duration::from_secs(10));
        let out = t.observe(
            GiftStep {
                sender_id: 1,
                group_id: 0,
                repeat_count: 1,
                repeat_end: false,
                streakable: false,
            },
            (),
            Instant::now(),
        );
        assert_eq!(out, StreakOutcome::Single { total: 1 });
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn concurrent_streaks_of_one_sender_are_separate() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let now = Instant::now();
        let a = |c, e| GiftStep {
            group_id: 1,
            ..step(c, e)
        };
        let b = |c, e| GiftStep {
            group_id: 2,
            ..step(c, e)
        };
        t.observe(a(1, false), (), now);
        t.observe(b(1, false), (), now);
        t.observe(a(4, false), (), now);
        let end_b = t.observe(b(2, true), (), now);
        let end_a = t.observe(a(4, true), (), now);
        assert!(matches!(
            end_b,
            StreakOutcome::Step {
                total: 2,
                status: StreakStatus::End,
                ..
            }
        ));
        assert!(matches!(
            end_a,
            StreakOutcome::Step {
                total: 4,
                status: StreakStatus::End,
                ..
            }
        ));
    }

    #[test]
    fn finish_all_closes_open_streaks() {
        let mut t = StreakTracker::new(Duration::from_secs(10));
        let now = Instant::now();
        run(&mut t, &[(1, false), (2, false)], now);
        let closed = t.finish_all(now);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].total, 2);
        assert_eq!(t.open_count(), 0);
    }
}
