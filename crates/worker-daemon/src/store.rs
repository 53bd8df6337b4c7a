//! Every database call the worker makes, each on the blocking pool. The queue engine's API is
//! used only here.

use std::time::Duration;

use core_models::{queue_view, services, Db, Service};

use crate::services::Job;

/// A database failure, as text for logs.
pub type StoreResult<T> = anyhow::Result<T>;

/// The database side of a worker daemon.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    owner: String,
}

impl Store {
    /// A store acting as `owner`.
    pub fn new(db: Db, owner: String) -> Store {
        Store { db, owner }
    }

    /// This daemon's owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Every service row.
    pub async fn services(&self) -> StoreResult<Vec<Service>> {
        self.db.run(|c| Ok(services::list(c)?)).await
    }

    /// Takes, renews or confirms the lease on a service; `false` when another daemon holds it.
    pub async fn acquire_service(&self, service_id: i64, ttl: Duration) -> StoreResult<bool> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(queue::acquire_service(c, service_id, &owner, ttl)?))
            .await
    }

    /// Gives a service's lease up.
    pub async fn release_service(&self, service_id: i64) -> StoreResult<()> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(queue::release_service(c, service_id, &owner).map(|_| ())?))
            .await
    }

    /// Records `outcomes` and claims up to `max` pending items of a service, highest priority
    /// first, in one transaction (one round trip for a busy runner). The outcomes are recorded
    /// even when the service lease is lost; the claim happens only while this daemon holds it.
    pub async fn finish_and_claim(
        &self,
        service: &Service,
        outcomes: Vec<(i64, queue::Outcome)>,
        max: usize,
        lease: Duration,
    ) -> StoreResult<(queue::Finished, Vec<Job>)> {
        let owner = self.owner.clone();
        let service_id = service.id;
        let slug: std::sync::Arc<str> = std::sync::Arc::from(service.slug.as_str());
        let name: std::sync::Arc<str> = std::sync::Arc::from(service.name.as_str());
        let done = self
            .db
            .run(move |c| {
                // Claims only while this daemon still holds the service lease, checked in
                // the same transaction: a daemon that lost it stops claiming at once.
                Ok::<_, anyhow::Error>(queue::finish_and_claim_if_owner(
                    c, &outcomes, service_id, max, &owner, &owner, lease,
                )?)
            })
            .await?;
        let jobs = done
            .claimed
            .unwrap_or_default()
            .into_iter()
            .map(|c| Job {
                item: c.item,
                event: c.event,
                service_slug: slug.clone(),
                service_name: name.clone(),
            })
            .collect();
        Ok((done.finished, jobs))
    }

    /// Records the outcomes of items this daemon processed, in one transaction.
    pub async fn finish(
        &self,
        outcomes: Vec<(i64, queue::Outcome)>,
    ) -> StoreResult<queue::Finished> {
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(queue::finish_many(c, &outcomes, &owner)?))
            .await
    }

    /// Puts claimed items back to pending without counting the attempt.
    pub async fn release(&self, item_ids: Vec<i64>) -> StoreResult<()> {
        if item_ids.is_empty() {
            return Ok(());
        }
        let owner = self.owner.clone();
        self.db
            .run(move |c| Ok(queue::release_many(c, &item_ids, &owner).map(|_| ())?))
            .await
    }

    /// Extends the claims on items still running.
    pub async fn renew(&self, item_ids: Vec<i64>, lease: Duration) -> StoreResult<()> {
        if item_ids.is_empty() {
            return Ok(());
        }
        let owner = self.owner.clone();
        self.db
            .run(move |c| {
                for id in item_ids {
                    queue::renew(c, id, &owner, lease)?;
                }
                Ok(())
            })
            .await
    }

    /// Returns a service's items whose claim expired (their worker died) to pending, or fails
    /// them after `max_attempts`; returns how many were touched.
    pub async fn rescue_expired(&self, service_id: i64, max_attempts: i32) -> StoreResult<u64> {
        let n = self
            .db
            .run(move |c| {
                Ok::<_, anyhow::Error>(queue::rescue_expired(c, Some(service_id), max_attempts)?)
            })
            .await?;
        Ok(n.requeued + n.failed)
    }

    /// Queue counts of these services.
    pub async fn stats(&self) -> StoreResult<Vec<queue_view::QueueStats>> {
        self.db.run(|c| Ok(queue_view::stats(c, None)?)).await
    }
}
