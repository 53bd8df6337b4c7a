//! What a serving runner holds under a lease, and the heartbeat that keeps it: the service's
//! lease (this daemon owns the service) and each held item's claim.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use core_models::Service;
use lifecycle::{Shutdown, Trigger};

use super::skips::Skips;
use crate::queue_client::QueueClient;

/// Items this runner holds, so they can be renewed while running and released on stop. An
/// item leaves only once its outcome is recorded (or it is released): a finished item whose
/// outcome still waits to be recorded is `processing` in the database and keeps its lease
/// renewed.
#[derive(Default)]
pub(super) struct Held {
    ids: Mutex<HashSet<i64>>,
}

impl Held {
    pub(super) fn add(&self, id: i64) {
        self.lock().insert(id);
    }

    pub(super) fn remove_all(&self, ids: &[i64]) {
        let mut held = self.lock();
        for id in ids {
            held.remove(id);
        }
    }

    pub(super) fn all(&self) -> Vec<i64> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<i64>> {
        // A panic while holding the lock leaves a plain set behind: still consistent.
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Renews the service lease and the leases of the held items, every third of the shorter
/// lease. The leases are renewed on their own task: a SYNC item running longer than a lease
/// (a dino jump waiting for its page, a webhook retrying) must not let a standby daemon take
/// the service, or its items, over while this daemon is still at work.
pub(super) struct Heartbeat {
    pub(super) queue: QueueClient,
    pub(super) service: Arc<Service>,
    pub(super) held: Arc<Held>,
    pub(super) service_lease: Duration,
    pub(super) item_lease: Duration,
    /// Pulled when another daemon owns the service (this one's lease ran out, e.g. through
    /// a long database outage). Item leases are still renewed then, so the items already
    /// running finish here instead of running twice.
    pub(super) lease_lost: Trigger,
    /// Where items found skipped (or rescued) are announced, so a SYNC one still running
    /// here is let go of.
    pub(super) skips: Skips,
}

impl Heartbeat {
    /// Beats until `quit` fires.
    pub(super) async fn beat_until(self, mut quit: Shutdown) {
        let every = (self.service_lease / 3).min(self.item_lease / 3);
        while !quit.sleep(every).await {
            self.renew_service().await;
            self.renew_items().await;
        }
    }

    async fn renew_service(&self) {
        match self
            .queue
            .acquire_service(self.service.id, self.service_lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => self.lease_lost.trigger(),
            // A database hiccup: keep going; the lease outlives a few missed beats.
            Err(e) => tracing::warn!(service = %self.service.slug, "lease renewal failed: {e:#}"),
        }
    }

    async fn renew_items(&self) {
        let ids = self.held.all();
        if ids.is_empty() {
            return;
        }
        match self.queue.renew(ids.clone(), self.item_lease).await {
            Ok(renewed) if (renewed as usize) < ids.len() => self.let_go_of_lost(ids).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(service = %self.service.slug, "item lease renewal failed: {e:#}")
            }
        }
    }

    /// Some held items were not renewed: skipped by an operator (from `ctl` or another
    /// daemon's control room) or rescued by another worker. Their outcome would be ignored;
    /// announcing them stops a SYNC one from holding the service up.
    async fn let_go_of_lost(&self, ids: Vec<i64>) {
        let held = match self.queue.still_held(ids.clone()).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(service = %self.service.slug, "cannot check held items: {e:#}");
                return;
            }
        };
        for id in ids.into_iter().filter(|id| !held.contains(id)) {
            self.skips.announce(id);
        }
    }
}
