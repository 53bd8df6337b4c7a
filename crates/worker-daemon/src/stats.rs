//! Counters of what this daemon processed, and the periodic statistics line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What one service's runner has done since the daemon started.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    /// Items completed.
    pub completed: AtomicU64,
    /// Items failed.
    pub failed: AtomicU64,
    /// Items running now.
    pub in_flight: AtomicU64,
}

/// Counters of every service, by slug.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    inner: Arc<Mutex<BTreeMap<String, Arc<ServiceCounters>>>>,
}

impl Counters {
    /// The counters of one service (created on first use).
    pub fn service(&self, slug: &str) -> Arc<ServiceCounters> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(slug.to_owned()).or_default().clone()
    }

    /// (slug, processed so far, in flight) of every service seen.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(slug, c)| {
                (
                    slug.clone(),
                    c.completed.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed),
                    c.in_flight.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// Items per second of each service between two snapshots.
pub struct Rate {
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
    pub fn update(&mut self, snapshot: &[(String, u64, u64)]) -> BTreeMap<String, f64> {
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
