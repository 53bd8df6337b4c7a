//! The statistics line a daemon prints every `--stats-every`, like the original's: per service
//! it ran, the queue's counts (pending, processing, completed, failed, discarded), this
//! daemon's items/s and the lag of the items it started, over that interval only.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use lifecycle::Shutdown;

use super::counters::Counters;
use super::lag::{LagSnapshot, LagSummary};
use crate::queue_client::QueueClient;

/// What one line needs from the line before it.
pub(crate) struct StatsReport {
    queue: QueueClient,
    counters: Counters,
    rate: Rate,
    /// Each service's lag counts at the previous line, so a spike shows in the line that
    /// covers it.
    lag_before: HashMap<String, LagSnapshot>,
}

impl StatsReport {
    /// A report whose first line covers the time from now.
    pub(crate) fn new(queue: QueueClient, counters: Counters) -> StatsReport {
        StatsReport {
            queue,
            counters,
            rate: Rate::default(),
            lag_before: HashMap::new(),
        }
    }

    /// Prints a line every `every` until `shutdown` fires; nothing at all when `every` is zero.
    pub(crate) async fn print_every(mut self, every: Duration, mut shutdown: Shutdown) {
        if every.is_zero() {
            return;
        }
        while !shutdown.sleep(every).await {
            self.print_line().await;
        }
    }

    async fn print_line(&mut self) {
        let rates = self.rate.update(&self.counters.snapshot());
        let lag = self.lag_since_last_line();
        let all = match self.queue.stats().await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!("cannot read queue statistics: {e:#}");
                return;
            }
        };
        println!("📊 queue statistics");
        for s in all.iter().filter(|s| rates.contains_key(&s.slug)) {
            let lag = lag.get(&s.slug).map_or(String::new(), |l| {
                format!(" · lag p50 {:.1} ms, p99 {:.1} ms", l.p50_ms, l.p99_ms)
            });
            println!(
                "   [{}] pending {} · processing {} · completed {} · failed {} · discarded {} · {:.1} items/s{lag}",
                s.slug,
                s.pending,
                s.processing,
                s.completed,
                s.failed,
                s.discarded,
                rates.get(&s.slug).copied().unwrap_or(0.0)
            );
        }
    }

    /// Each service's lag percentiles since the previous line (none for a service that
    /// started no item meanwhile).
    fn lag_since_last_line(&mut self) -> HashMap<String, LagSummary> {
        let mut lag = HashMap::new();
        for (slug, now) in self.counters.lag() {
            let window = now.since(
                self.lag_before
                    .get(&slug)
                    .unwrap_or(&LagSnapshot::default()),
            );
            if let Some(summary) = window.summary() {
                lag.insert(slug.clone(), summary);
            }
            self.lag_before.insert(slug, now);
        }
        lag
    }
}

/// Items per second of each service between two snapshots.
struct Rate {
    last: BTreeMap<String, u64>,
    at: Instant,
}

impl Default for Rate {
    fn default() -> Self {
        Rate {
            last: BTreeMap::new(),
            at: Instant::now(),
        }
    }
}

impl Rate {
    /// Items/s per slug since the previous call.
    fn update(&mut self, snapshot: &[(String, u64, u64)]) -> BTreeMap<String, f64> {
        let secs = self.at.elapsed().as_secs_f64().max(0.001);
        let rates = snapshot
            .iter()
            .map(|(slug, done, _)| {
                let before = self.last.get(slug).copied().unwrap_or(0);
                (slug.clone(), done.saturating_sub(before) as f64 / secs)
            })
            .collect();
        self.last = snapshot.iter().map(|(s, d, _)| (s.clone(), *d)).collect();
        self.at = Instant::now();
        rates
    }
}
