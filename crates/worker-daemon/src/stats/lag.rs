//! How long events waited between capture and the start of their processing, per service:
//! a fixed-size log-scale histogram and the percentiles read from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: a recorded value is known to within 1/16 (≈ 6 %).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered above the exact range, in microseconds: up to 2^40 µs (≈ 12 days).
const OCTAVES: usize = 40 - SUB_BITS as usize;
const BUCKETS: usize = SUB + OCTAVES * SUB;

/// How long events waited between capture and the start of `process_event` (the queue lag
/// a streamer sees as delay on stream), as a fixed-size log-scale histogram: lock-free to
/// record, a few KB per service however long the daemon runs.
#[derive(Debug)]
pub struct LagHistogram {
    buckets: Box<[AtomicU64]>,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The bucket of a value in microseconds: exact below [`SUB`], then [`SUB`] buckets per
/// power of two.
fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // ≥ SUB_BITS
    let sub = (us >> (octave - SUB_BITS)) as usize & (SUB - 1);
    (SUB + (octave - SUB_BITS) as usize * SUB + sub).min(BUCKETS - 1)
}

/// The middle of a bucket, in microseconds.
fn bucket_mid(index: usize) -> f64 {
    if index < SUB {
        return index as f64;
    }
    let octave = (index - SUB) / SUB + SUB_BITS as usize;
    let sub = (index - SUB) % SUB;
    let width = 1u64 << (octave - SUB_BITS as usize);
    ((SUB + sub) as u64 * width) as f64 + width as f64 / 2.0
}

impl LagHistogram {
    /// Records one lag.
    pub fn record(&self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> LagSnapshot {
        LagSnapshot {
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// A copy of a [`LagHistogram`]'s counts, for percentiles over all time or over a window.
#[derive(Debug, Clone, Default)]
pub struct LagSnapshot {
    counts: Vec<u64>,
}

/// Lag percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LagSummary {
    /// Events measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl LagSnapshot {
    /// What was recorded after `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &LagSnapshot) -> LagSnapshot {
        LagSnapshot {
            counts: self
                .counts
                .iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(earlier.counts.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }

    /// The counts as a Prometheus histogram in seconds: (sum, count, cumulative count at
    /// each of `bounds`, plus `+Inf`). Each of our buckets counts at its middle, so a bound
    /// inside a bucket splits it no finer than our 1/16 resolution.
    pub fn cumulative(&self, bounds_secs: &[f64]) -> (f64, u64, Vec<(f64, u64)>) {
        let mut sum = 0.0;
        let mut at_bound = vec![0u64; bounds_secs.len()];
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let secs = bucket_mid(i) / 1e6;
            sum += secs * n as f64;
            for (slot, bound) in at_bound.iter_mut().zip(bounds_secs) {
                if secs <= *bound {
                    *slot += n;
                }
            }
        }
        let count: u64 = self.counts.iter().sum();
        let mut buckets: Vec<(f64, u64)> = bounds_secs.iter().copied().zip(at_bound).collect();
        buckets.push((f64::INFINITY, count));
        (sum, count, buckets)
    }

    /// Percentiles, or `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LagSummary> {
        let count: u64 = self.counts.iter().sum();
        if count == 0 {
            return None;
        }
        let at = |q: f64| -> f64 {
            // The smallest value with at least q of the samples at or below it.
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (i, n) in self.counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return bucket_mid(i) / 1000.0;
                }
            }
            0.0
        };
        Some(LagSummary {
            count,
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_within_a_sixteenth() {
        let mut last = 0;
        for us in (0..5_000_000u64).step_by(997).chain([u64::MAX / 4]) {
            let b = bucket_of(us);
            assert!(b >= last, "monotonic at {us}");
            last = b;
            if us >= SUB as u64 && b < BUCKETS - 1 {
                let mid = bucket_mid(b);
                assert!(
                    (mid - us as f64).abs() <= us as f64 / 16.0,
                    "{us} µs → {mid}"
                );
            }
        }
        assert_eq!(bucket_of(5), 5);
    }

    #[test]
    fn percentiles_of_a_known_spread_and_of_a_window() {
        let h = LagHistogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot().summary().expect("some");
        assert_eq!(s.count, 100);
        let near = |got: f64, want: f64| (got - want).abs() <= want / 16.0;
        assert!(near(s.p50_ms, 50.0), "{s:?}");
        assert!(near(s.p99_ms, 99.0), "{s:?}");
        assert!(near(s.max_ms, 100.0), "{s:?}");

        let before = h.snapshot();
        h.record(Duration::from_secs(2));
        let window = h.snapshot().since(&before).summary().expect("one");
        assert_eq!(window.count, 1);
        assert!(near(window.p50_ms, 2000.0), "{window:?}");
        assert!(LagSnapshot::default().summary().is_none());
    }
}
