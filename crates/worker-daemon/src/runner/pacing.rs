//! How often a serving runner polls its queue and how much it claims at once: fast while a
//! LIVE keeps it busy, a few polls per second while it is quiet, and claims the size of what
//! the service gets through in a few milliseconds.

use std::time::{Duration, Instant};

/// Longest pause between empty polls; the wake-up latency bound when idle.
const IDLE_POLL_MAX: Duration = Duration::from_millis(100);
/// First pause after an empty poll; doubles up to [`IDLE_POLL_MAX`].
const IDLE_POLL_MIN: Duration = Duration::from_millis(2);
/// Right after a claim that found work, a busy LIVE's next frame is a few milliseconds away:
/// empty polls stay [`IDLE_POLL_MIN`] apart for this long.
const BUSY_WINDOW: Duration = Duration::from_millis(20);
/// While the service had work this recently the LIVE is on: pauses stay at most
/// [`WARM_POLL_MAX`]. A quiet service backs off to [`IDLE_POLL_MAX`], a few polls per second.
const WARM_WINDOW: Duration = Duration::from_secs(1);
/// Longest pause between empty polls within [`WARM_WINDOW`]: bounds the lag polling adds to
/// a light stream without polling it every 2 ms.
const WARM_POLL_MAX: Duration = Duration::from_millis(10);
/// Most items claimed in one round trip.
const CLAIM_BATCH_MAX: usize = 256;
/// A claim takes about what the service gets through in this long at its recent pace: a
/// round trip's cost is shared by many fast items, while a slow SYNC service claims one item
/// at a time, so an event arriving meanwhile is never stuck behind lower-priority items
/// claimed earlier.
const CLAIM_HORIZON: Duration = Duration::from_millis(5);
/// Longest an ASYNC runner with a backlog waits for busy slots to free up before its next
/// round trip, so that round trip records and claims a useful batch instead of one item.
pub(super) const GATHER_MAX: Duration = Duration::from_millis(2);

/// What the last claims said about the queue, and so when and how much to claim next.
#[derive(Debug)]
pub(super) struct Pacing {
    /// The interval between the starts of empty polls.
    idle: Duration,
    /// When the last poll began.
    polled_at: Instant,
    /// When a claim last found work.
    last_work: Instant,
    /// Whether the last claim that found work brought only ASYNC items (they run side by
    /// side).
    async_last: bool,
    /// Whether the last claim took all it asked for (so more is probably pending).
    backlog: bool,
}

impl Pacing {
    /// The pace of a runner that just started serving.
    pub(super) fn new() -> Pacing {
        Pacing {
            idle: IDLE_POLL_MIN,
            polled_at: Instant::now(),
            last_work: Instant::now(),
            async_last: false,
            backlog: false,
        }
    }

    /// Items to ask for, given the service's recent time per item and the free ASYNC slots.
    pub(super) fn claim_size(&self, avg_item_time: Option<Duration>, free: usize) -> usize {
        claim_size(avg_item_time, free, self.async_last)
    }

    /// Notes what a claim brought: `got` items of the `wanted`, `all_async` when every one
    /// is ASYNC.
    pub(super) fn claimed(&mut self, got: usize, wanted: usize, all_async: bool) {
        // A full batch suggests more is pending.
        self.backlog = got == wanted;
        if got > 0 {
            self.async_last = all_async;
            self.idle = IDLE_POLL_MIN;
            self.last_work = Instant::now();
        }
    }

    /// A poll (a claim round trip) begins now.
    pub(super) fn polling(&mut self) {
        self.polled_at = Instant::now();
    }

    /// The pause before polling again after an empty claim: what is left of the interval
    /// since that poll began. Polls are an interval apart start to start, so the lag polling
    /// adds does not grow with the time the database takes to answer one.
    pub(super) fn idle(&self) -> Duration {
        (self.polled_at + self.idle).saturating_duration_since(Instant::now())
    }

    /// After that pause: the next one is longer.
    pub(super) fn slept(&mut self) {
        self.idle = next_idle(self.idle, self.last_work.elapsed());
    }

    /// How many free ASYNC slots are worth waiting for before the next round trip: half a
    /// batch, while the last claim suggested a backlog; `None` without one.
    pub(super) fn gather_target(&self, max_concurrency: usize) -> Option<usize> {
        self.backlog
            .then(|| max_concurrency.min(CLAIM_BATCH_MAX).div_ceil(2))
    }
}

/// The pause after another empty poll: doubled, within a ceiling that grows with the time
/// since the last claim that found work ([`BUSY_WINDOW`], [`WARM_WINDOW`]). A busy LIVE is
/// polled every 2 ms, a light one at most every 10 ms, a quiet service every 100 ms.
fn next_idle(idle: Duration, since_work: Duration) -> Duration {
    let ceiling = if since_work < BUSY_WINDOW {
        IDLE_POLL_MIN
    } else if since_work < WARM_WINDOW {
        WARM_POLL_MAX
    } else {
        IDLE_POLL_MAX
    };
    (idle * 2).min(ceiling)
}

/// Items to ask for in one claim: what the service gets through in [`CLAIM_HORIZON`] at its
/// recent pace per item (`avg`; one item while unknown), and at least the free ASYNC slots
/// after an ASYNC claim (they start together), within `1..=CLAIM_BATCH_MAX`.
fn claim_size(avg: Option<Duration>, free: usize, async_last: bool) -> usize {
    let paced = avg.map_or(1, |avg| {
        let per_horizon = CLAIM_HORIZON.as_secs_f64() / avg.as_secs_f64().max(1e-9);
        per_horizon.min(CLAIM_BATCH_MAX as f64) as usize
    });
    let n = if async_last { paced.max(free) } else { paced };
    n.clamp(1, CLAIM_BATCH_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_an_interval_apart_start_to_start() {
        let mut pacing = Pacing::new();
        pacing.polling();
        assert!(pacing.idle() <= IDLE_POLL_MIN);
        // A poll that took longer than the interval is followed at once.
        pacing.polled_at = Instant::now() - IDLE_POLL_MIN * 2;
        assert_eq!(pacing.idle(), Duration::ZERO);
        pacing.polled_at = Instant::now() - IDLE_POLL_MIN / 2;
        assert!(pacing.idle() <= IDLE_POLL_MIN / 2);
    }

    #[test]
    fn polls_slow_down_as_the_last_work_recedes() {
        let ms = Duration::from_millis;
        assert_eq!(next_idle(ms(2), ms(5)), ms(2), "busy: every 2 ms");
        assert_eq!(next_idle(ms(2), ms(100)), ms(4), "warm: doubling");
        assert_eq!(next_idle(ms(8), ms(500)), ms(10), "warm: capped at 10 ms");
        assert_eq!(
            next_idle(ms(64), ms(5_000)),
            ms(100),
            "quiet: capped at 100 ms"
        );
        assert_eq!(next_idle(ms(100), ms(5)), ms(2), "work again: back to 2 ms");
    }

    #[test]
    fn claims_follow_the_service_pace() {
        let ms = Duration::from_millis;
        // Unknown pace: one item.
        assert_eq!(claim_size(None, 8, false), 1);
        // A slow SYNC service (a dino jump takes ~1 s): one at a time, whatever is free.
        assert_eq!(claim_size(Some(ms(900)), 8, false), 1);
        // A slow ASYNC service: every free slot.
        assert_eq!(claim_size(Some(ms(900)), 8, true), 8);
        // 1 ms per item: what fits in the horizon.
        assert_eq!(claim_size(Some(ms(1)), 8, false), 5);
        // A no-op: the batch bound.
        assert_eq!(
            claim_size(Some(Duration::from_micros(2)), 8, false),
            CLAIM_BATCH_MAX
        );
        assert_eq!(claim_size(Some(Duration::ZERO), 0, true), CLAIM_BATCH_MAX);
    }
}
