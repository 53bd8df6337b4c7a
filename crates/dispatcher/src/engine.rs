//! The facade: every operation on the queue tables, one method each, with its parameters and
//! its result. The modules behind it hold the SQL.

use std::time::Duration;

use core_models::{CapturedEvent, DbConn};
use events::Outcome;

use crate::batch::{Batch, BatchGroup};
use crate::capture_lease::{CaptureClaim, CaptureRelease};
use crate::claim::{ClaimParams, Claimed};
use crate::error::EngineError;
use crate::explain::RuleVerdict;
use crate::finish::Finished;
use crate::lease::ServiceLease;
use crate::prune::PruneParams;
use crate::removal::Removed;
use crate::report::DispatchReport;
use crate::rescue::{RescueParams, RescueReport};
use crate::rules::RuleCache;
use crate::test_event::{TestEvent, TestSent};
use crate::view::{EventTally, ListParams, QueueEntry, QueueStats};
use crate::{
    capture_lease, claim, dispatch, finish, items, lease, operations, prune, removal, rescue,
    routes, test_event, view,
};

/// The queue engine over one connection: `Engine::new(conn).dispatch(&batch)`.
///
/// Synchronous diesel: async code runs it on the blocking pool (`Db::run`), as one closure per
/// operation. Each write is one transaction (prune: one per batch) or one statement, with its
/// transient conflicts retried inside, so it must not be called inside a caller's
/// transaction. The crate docs list the operations and own their lock order.
pub struct Engine<'c> {
    conn: &'c mut DbConn,
}

impl<'c> Engine<'c> {
    /// The engine on `conn`.
    pub fn new(conn: &'c mut DbConn) -> Engine<'c> {
        Engine { conn }
    }

    // ── Store and route (the capture side) ───────────────────────────────────────────────

    /// Stores a batch's events (in order) as `live_events` rows of its session and enqueues
    /// them for every active service with an enabled config for their type, with the
    /// overflow policy (DESIGN §5); adds what was stored to the session's `total_events`. One
    /// transaction: nothing is stored if it fails.
    ///
    /// Idempotent, so a batch whose commit outcome is unknown can be committed again: an
    /// event whose (room_id, msg_id) is already stored (or repeated earlier in the batch) is
    /// skipped, and so is a synthesised streak end (the only events without a msg_id) whose
    /// streak already has its end row. Skipped events are neither stored nor dispatched nor
    /// counted again.
    ///
    /// Each event goes, per active service, under the service's winning rule (see the
    /// README's "Rules"): the enabled rule of its type whose conditions hold and that is not
    /// cooling down, highest priority first, then the one created first. An event whose
    /// matching rules are all cooling down gets a `discarded` row (reason `cooldown`). The
    /// rules are read in the transaction; a long-running caller keeps them in a
    /// [`RuleCache`] instead ([`Engine::dispatch_cached`]).
    pub fn dispatch(&mut self, batch: &Batch) -> Result<DispatchReport, EngineError> {
        dispatch::dispatch(self.conn, &BatchGroup::from(batch), None)
    }

    /// [`Engine::dispatch`] of a group of batches (one batch converts into a group), with the
    /// rules of `cache` (reloaded when it is older than its age limit): what the capture
    /// daemon calls, so a group of frames costs no rule query and no copy of its events.
    pub fn dispatch_cached(
        &mut self,
        group: &BatchGroup<'_>,
        cache: &RuleCache,
    ) -> Result<DispatchReport, EngineError> {
        dispatch::dispatch(self.conn, group, Some(cache))
    }

    /// What each of a service's rules makes of `event` now (`ctl rule test`): the one that
    /// would fire, and why each other would not. Reads only.
    pub fn explain_rules(
        &mut self,
        service_id: i64,
        event: &CapturedEvent,
    ) -> Result<Vec<RuleVerdict>, EngineError> {
        crate::explain::explain(self.conn, service_id, event, core_models::models::now())
    }

    // ── Claim side (the worker) ──────────────────────────────────────────────────────────

    /// Records the outcomes of `params.finished`, then claims up to `params.max` pending
    /// items of the service for `params.owner`, in one transaction: "these are done, give me
    /// more". The claim happens only while `params.service_owner` holds an unexpired lease on
    /// the service (`items` is `None` otherwise: stop working the service); the outcomes are
    /// recorded either way.
    ///
    /// Claimed items come highest priority first, then oldest; each is now `processing`,
    /// locked by the owner until `now + lease`, with one more attempt counted. Keep the lease
    /// of a long run with [`Engine::renew_items`]; an item whose lease ran out goes back to
    /// `pending` at the next [`Engine::rescue_expired`].
    pub fn claim(&mut self, params: &ClaimParams<'_>) -> Result<Claimed, EngineError> {
        claim::claim(self.conn, params)
    }

    /// Records how items `owner` processed ended: a completed item becomes `completed`, a
    /// failed one `failed` with its error as `last_error` (without control characters, cut to
    /// 8,000 characters). Only items `processing` under `owner` are changed; the others are
    /// listed in [`Finished::not_held`]. An id given twice as completed counts once.
    pub fn finish(
        &mut self,
        owner: &str,
        outcomes: &[(i64, Outcome)],
    ) -> Result<Finished, EngineError> {
        finish::finish(self.conn, owner, outcomes)
    }

    /// Extends the lease of items `owner` holds to `now + lease`; returns how many were
    /// renewed. An item not renewed was rescued (or finished): its run must not record an
    /// outcome as if it still held it.
    pub fn renew_items(
        &mut self,
        owner: &str,
        item_ids: &[i64],
        lease: Duration,
    ) -> Result<u64, EngineError> {
        items::renew(self.conn, owner, item_ids, lease)
    }

    /// Hands items `owner` holds back: `pending` again, unlocked, the attempt they were
    /// claimed with not counted (items claimed but never started, at shutdown). Returns how
    /// many were released.
    pub fn release_items(&mut self, owner: &str, item_ids: &[i64]) -> Result<u64, EngineError> {
        items::release(self.conn, owner, item_ids)
    }

    // ── Service leases (one daemon per service) ──────────────────────────────────────────

    /// Takes, renews or confirms `owner`'s lease on a service until `now + ttl`, atomically:
    /// creates it if there is none, extends it if it is already `owner`'s, takes it over if it
    /// has expired. False when another owner holds an unexpired lease. Called as the
    /// heartbeat too (well inside the TTL); of several daemons racing for a free or expired
    /// service, exactly one gets true.
    pub fn acquire_service(
        &mut self,
        service_id: i64,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, EngineError> {
        lease::acquire_service(self.conn, service_id, owner, ttl)
    }

    /// Gives a service up (at shutdown) so a standby can take it at once instead of waiting
    /// for the lease to expire. False when `owner` did not hold it.
    pub fn release_service(&mut self, service_id: i64, owner: &str) -> Result<bool, EngineError> {
        lease::release_service(self.conn, service_id, owner)
    }

    // ── Capture leases (one daemon per streamer) ─────────────────────────────────────────

    /// Takes, renews or takes over `owner`'s lease on the capture of `streamer` until
    /// `now + ttl`; when another daemon holds it, says who and (with `stand_by`) marks
    /// `owner` as its standby. Of two daemons racing for a free or expired capture, exactly
    /// one holds it. A holder named `presumed_dead` (a process the caller knows is gone)
    /// loses its lease at once.
    pub fn acquire_capture(
        &mut self,
        streamer: &str,
        owner: &str,
        ttl: Duration,
        presumed_dead: Option<&str>,
        stand_by: bool,
    ) -> Result<CaptureClaim, EngineError> {
        capture_lease::acquire_capture(self.conn, streamer, owner, ttl, presumed_dead, stand_by)
    }

    /// Records the session `owner` captures into, so a daemon taking over continues it;
    /// false when `owner` no longer holds the capture.
    pub fn set_capture_session(
        &mut self,
        streamer: &str,
        owner: &str,
        session_id: i64,
    ) -> Result<bool, EngineError> {
        capture_lease::set_capture_session(self.conn, streamer, owner, session_id)
    }

    /// Lets `owner`'s capture of `streamer` go: closed (the row goes), or handed over to a
    /// standby (the lease expires now and keeps the session); false when it was not held.
    pub fn release_capture(
        &mut self,
        streamer: &str,
        owner: &str,
        how: CaptureRelease,
    ) -> Result<bool, EngineError> {
        capture_lease::release_capture(self.conn, streamer, owner, how)
    }

    /// Every unexpired service lease: which daemon runs which service.
    pub fn service_owners(&mut self) -> Result<Vec<ServiceLease>, EngineError> {
        lease::service_owners(self.conn)
    }

    /// The daemon holding `service_id`'s lease now, if any.
    pub fn service_owner(&mut self, service_id: i64) -> Result<Option<ServiceLease>, EngineError> {
        lease::service_owner(self.conn, service_id)
    }

    // ── Upkeep ───────────────────────────────────────────────────────────────────────────

    /// Returns every `processing` item whose lease ended (`locked_until <= now`) to `pending`
    /// (its attempt stays counted: at-least-once, never lost), or marks it `failed` when it
    /// has been claimed `max_attempts` times, so a poison event cannot loop forever. One
    /// transaction; safe beside workers and other rescuers: an item is moved once, and one
    /// completed or renewed meanwhile is left alone.
    pub fn rescue_expired(&mut self, params: RescueParams) -> Result<RescueReport, EngineError> {
        rescue::rescue_expired(self.conn, params)
    }

    /// Deletes `completed` and `discarded` queue rows last changed more than
    /// `params.older_than` ago, in batches of `params.batch_size`, each its own short
    /// transaction, so it never holds many locks while capture and workers run; returns how
    /// many. `failed` rows are kept for inspection, and `live_events` is not touched.
    pub fn prune(&mut self, params: PruneParams) -> Result<u64, EngineError> {
        prune::prune(self.conn, params)
    }

    /// Deletes a service with its event configs, its queue rows and its lease, in one
    /// transaction. An unknown slug is an [`EngineError::Model`] not-found error.
    pub fn remove_service(&mut self, slug: &str) -> Result<Removed, EngineError> {
        removal::remove_service(self.conn, slug)
    }

    // ── By hand (ctl, the control room) ──────────────────────────────────────────────────

    /// Discards every `pending` item of the service (reason `cleared`); returns how many.
    /// Items being processed finish as they would.
    pub fn clear(&mut self, slug: &str) -> Result<u64, EngineError> {
        operations::clear(self.conn, slug)
    }

    /// Puts the service's `failed` items (or only `item`) back to `pending`, attempts kept;
    /// returns how many. An `item` that is not a failed item of the service is not found.
    pub fn retry_failed(&mut self, slug: &str, item: Option<i64>) -> Result<u64, EngineError> {
        operations::retry_failed(self.conn, slug, item)
    }

    /// Marks a running item of the service `failed` (reason `skipped`): its worker's outcome
    /// is ignored, and a worker that watches its items stops waiting for it.
    pub fn skip(&mut self, slug: &str, item: i64) -> Result<(), EngineError> {
        operations::skip(self.conn, slug, item)
    }

    /// Of `item_ids`, those still `processing` under `owner` (the others were skipped,
    /// rescued or finished meanwhile).
    pub fn still_held(&mut self, owner: &str, item_ids: &[i64]) -> Result<Vec<i64>, EngineError> {
        operations::still_held(self.conn, owner, item_ids)
    }

    /// Sends a made-up event through [`Engine::dispatch`] into its streamer's test session.
    pub fn send_test_event(&mut self, event: &TestEvent) -> Result<TestSent, EngineError> {
        test_event::send(self.conn, event)
    }

    // ── Reads for display ────────────────────────────────────────────────────────────────

    /// Queue rows per status of every service (or only `service_id`), services without rows
    /// included with zeros, by service id.
    pub fn stats(&mut self, service_id: Option<i64>) -> Result<Vec<QueueStats>, EngineError> {
        view::stats(self.conn, service_id)
    }

    /// A service's queue rows in claim order (priority, then age), with their event type and
    /// user.
    pub fn list(&mut self, params: ListParams) -> Result<Vec<QueueEntry>, EngineError> {
        view::list(self.conn, params)
    }

    /// A service's pending items, counted only up to `cap`: at most `cap` entries of the
    /// claim index are read, however long the queue is. How dispatch knows whether a queue is
    /// full, for whoever needs only "more than N or not".
    pub fn pending_at_most(&mut self, service_id: i64, cap: u64) -> Result<u64, EngineError> {
        routes::pending_count(
            self.conn,
            service_id,
            i64::try_from(cap).unwrap_or(i64::MAX),
        )
    }

    /// The highest stored event id (0 when none): a mark to count from with
    /// [`Engine::events_since`].
    pub fn latest_event_id(&mut self) -> Result<i64, EngineError> {
        view::latest_event_id(self.conn)
    }

    /// Events, and gifts among them, stored after the mark `after` (an event id).
    pub fn events_since(&mut self, after: i64) -> Result<EventTally, EngineError> {
        view::events_since(self.conn, after)
    }
}
