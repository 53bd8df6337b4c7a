//! The worker's async client of the queue engine: every database call the worker makes, each
//! one engine operation (or one read of the services table) on the blocking pool. It knows
//! the engine's facade and nothing of what a service does with an item.

use std::time::Duration;

use core_models::{services, Db, Service};
use dispatcher::{ClaimParams, ClaimedItem, Engine, Finished, QueueStats, RescueParams};
use events::Outcome;

/// A database failure, as text for logs.
pub type QueueResult<T> = anyhow::Result<T>;

/// The database side of a worker daemon, acting as one owner.
#[derive(Debug, Clone)]
pub struct QueueClient {
    db: Db,
    owner: String,
}

impl QueueClient {
    /// A client acting as `owner`.
    pub fn new(db: Db, owner: String) -> QueueClient {
        QueueClient { db, owner }
    }

    /// Every service row.
    pub async fn services(&self) -> QueueResult<Vec<Service>> {
        self.db.run(|c| Ok(services::list(c)?)).await
    }

    /// Takes, renews or confirms the lease on a service; `false` when another daemon holds it.
    pub async fn acquire_service(&self, service_id: i64, ttl: Duration) -> QueueResult<bool> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(Engine::new(c).acquire_service(service_id, &owner, ttl)?))
            .await
    }

    /// Of `ids`, those this worker still holds (`processing` under its name).
    pub async fn still_held(&self, ids: Vec<i64>) -> QueueResult<Vec<i64>> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(Engine::new(c).still_held(&owner, &ids)?))
            .await
    }

    /// Gives a service's lease up.
    pub async fn release_service(&self, service_id: i64) -> QueueResult<()> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| {
                Ok(Engine::new(c)
                    .release_service(service_id, &owner)
                    .map(|_| ())?)
            })
            .await
    }

    /// Records `outcomes` and claims up to `max` pending items of a service, highest priority
    /// first, in one transaction (one round trip for a busy runner). The outcomes are recorded
    /// even when the service lease is lost; the claim happens only while this daemon holds it
    /// (no items otherwise: the lease heartbeat tells the runner).
    pub async fn finish_and_claim(
        &self,
        service_id: i64,
        outcomes: Vec<(i64, Outcome)>,
        max: usize,
        lease: Duration,
    ) -> QueueResult<(Finished, Vec<ClaimedItem>)> {
        let owner = self.owner.clone();
        let done = self
            .db
            .run(move |c| {
                // Claims only while this daemon still holds the service lease, checked in
                // the same transaction: a daemon that lost it stops claiming at once.
                Ok::<_, anyhow::Error>(Engine::new(c).claim(&ClaimParams {
                    service_id,
                    max,
                    service_owner: &owner,
                    owner: &owner,
                    lease,
                    finished: &outcomes,
                })?)
            })
            .await?;
        Ok((done.finished, done.items.unwrap_or_default()))
    }

    /// Records the outcomes of items this daemon processed, in one transaction.
    pub async fn finish(&self, outcomes: Vec<(i64, Outcome)>) -> QueueResult<Finished> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(Engine::new(c).finish(&owner, &outcomes)?))
            .await
    }

    /// Puts claimed items back to pending without counting the attempt.
    pub async fn release(&self, item_ids: Vec<i64>) -> QueueResult<()> {
        if item_ids.is_empty() {
            return Ok(());
        }
        let owner = self.owner.clone();
        self.db
            .run(move |c| {
                Ok(Engine::new(c)
                    .release_items(&owner, &item_ids)
                    .map(|_| ())?)
            })
            .await
    }

    /// Extends the claims on items still running; returns how many were renewed (an item not
    /// renewed was skipped, rescued or finished meanwhile).
    pub async fn renew(&self, item_ids: Vec<i64>, lease: Duration) -> QueueResult<u64> {
        if item_ids.is_empty() {
            return Ok(0);
        }
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(Engine::new(c).renew_items(&owner, &item_ids, lease)?))
            .await
    }

    /// Returns a service's items whose claim expired (their worker died) to pending, or fails
    /// them after `max_attempts`; returns how many were touched.
    pub async fn rescue_expired(&self, service_id: i64, max_attempts: i32) -> QueueResult<u64> {
        let n = self
            .db
            .run(move |c| {
                Ok::<_, anyhow::Error>(Engine::new(c).rescue_expired(RescueParams {
                    service_id: Some(service_id),
                    max_attempts,
                })?)
            })
            .await?;
        Ok(n.requeued + n.failed)
    }

    /// Queue counts of every service.
    pub async fn stats(&self) -> QueueResult<Vec<QueueStats>> {
        self.db.run(|c| Ok(Engine::new(c).stats(None)?)).await
    }
}
