//! Capped exponential backoff with jitter: the one retry schedule of the workspace.

use std::time::Duration;

use rand::Rng;

/// How much randomness a [`Backoff`] adds, so that many clients (or two competing
/// transactions) do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Exactly the exponential delay.
    None,
    /// The delay scaled by a random factor in `[1 - f, 1]` (`f` in 0–1): never longer than
    /// the schedule, at least `1 - f` of it.
    Down(f64),
    /// The delay plus up to as much again: `[d, 2d)`. Spreads competing transactions apart.
    Up,
}

/// A retry schedule: `initial × 2^(n-1)` before retry number `n`, capped at `max`, with
/// [`Jitter`]. It counts the failures itself ([`Backoff::next_delay`]) or answers for a given
/// count ([`Backoff::delay`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: Jitter,
    failures: u32,
}

impl Backoff {
    /// A schedule from `initial` doubling up to `max`, without jitter.
    pub const fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            jitter: Jitter::None,
            failures: 0,
        }
    }

    /// The same schedule with `jitter`.
    pub const fn with_jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// The same schedule from another first delay (still capped at the same `max`): a
    /// program's flag for its first retry delay.
    pub const fn with_initial(mut self, initial: Duration) -> Backoff {
        self.initial = initial;
        self
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay (before jitter).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before retry number `failures` (1-based; 0 counts as 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self
            .initial
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max);
        match self.jitter {
            Jitter::None => base,
            Jitter::Down(f) => {
                let f = f.clamp(0.0, 1.0);
                base.mul_f64(rand::rng().random_range((1.0 - f)..=1.0))
            }
            Jitter::Up => base + base.mul_f64(rand::rng().random_range(0.0..1.0)),
        }
    }

    /// Counts one more failure and returns the delay before the next try.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.delay(self.failures)
    }

    /// Failures counted since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_its_band() {
        let down = Backoff::new(Duration::from_secs(2), Duration::from_secs(60))
            .with_jitter(Jitter::Down(0.5));
        let up = Backoff::new(Duration::from_millis(8), Duration::from_millis(256))
            .with_jitter(Jitter::Up);
        for n in 1..=10 {
            let d = down.delay(n);
            let base = Duration::from_secs(2 << (n - 1).min(5)).min(Duration::from_secs(60));
            assert!(d <= base && d >= base / 2, "{n}: {d:?}");
            let u = up.delay(n);
            let base = Duration::from_millis(8 << (n - 1).min(5)).min(Duration::from_millis(256));
            assert!(u >= base && u < base * 2, "{n}: {u:?}");
        }
    }

    #[test]
    fn counts_failures_until_reset() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(20));
        assert_eq!(b.failures(), 2);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }
}
