//! What each service's runner has done since the daemon started, by slug.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lag::{LagHistogram, LagSnapshot};

/// What one service's runner has done since the daemon started.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    /// Items completed.
    pub completed: AtomicU64,
    /// Items failed.
    pub(crate) failed: AtomicU64,
    /// Items running now.
    pub(crate) in_flight: AtomicU64,
    /// Capture-to-`process_event` lag of every item started.
    pub(crate) lag: LagHistogram,
    /// Moving average of the time `process_event` takes, in nanoseconds (0 = none yet).
    avg_item_ns: AtomicU64,
}

impl ServiceCounters {
    /// Adds one item's processing time to the moving average (weight 1/8: it follows a
    /// change of pace within a few dozen items).
    pub(crate) fn record_item_time(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        // Racy read-modify-write on purpose: a lost update only nudges an estimate.
        let old = self.avg_item_ns.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.avg_item_ns.store(new.max(1), Ordering::Relaxed);
    }

    /// The moving average of `process_event` times, once an item has run.
    pub(crate) fn avg_item_time(&self) -> Option<Duration> {
        match self.avg_item_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
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
    pub(crate) fn snapshot(&self) -> Vec<(String, u64, u64)> {
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

    /// (slug, completed, failed) of every service seen.
    pub(crate) fn outcomes(&self) -> Vec<(String, u64, u64)> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(slug, c)| {
                (
                    slug.clone(),
                    c.completed.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// (slug, lag counts so far) of every service seen.
    pub(crate) fn lag(&self) -> Vec<(String, LagSnapshot)> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(slug, c)| (slug.clone(), c.lag.snapshot()))
            .collect()
    }
}
