//! The queue engine: the one crate that owns the queue tables. It stores captured LIVE events
//! and routes them into the priority queue of every subscribed service (with the overflow
//! policy of DESIGN §5), hands queue items to workers under leases, records how they ended,
//! brings back the items of dead workers, and keeps the queues small.
//!
//! Every statement on `event_queue`, `service_leases`, `capture_leases` and `rule_cooldowns`,
//! and every write of `live_events`, is here and nowhere else, and so is the matching of
//! events against the services' trigger rules (which core-models stores and validates); other
//! crates call the [`Engine`] facade. So this crate must never be bypassed (the one
//! deliberate exception is `ctl bench`'s plain-INSERT baseline, the physical limit the engine is measured against), and it must never reach beyond its tables:
//! no networking, no async runtime, no knowledge of what a service does with an item, and no
//! policy that belongs to its callers (lease lengths, attempts and batch sizes are parameters:
//! the worker's settings are their one source).
//!
//! # The facade
//!
//! [`Engine::new`]`(conn)` borrows a connection; each method is one operation, with its
//! parameters and result types:
//!
//! | group | operation | result | called by |
//! | --- | --- | --- | --- |
//! | store and route | [`Engine::dispatch`] a [`Batch`] ([`Engine::dispatch_cached`] a [`BatchGroup`] with a [`RuleCache`]) | [`DispatchReport`] | capture-daemon's committer |
//! | | [`Engine::explain_rules`] | [`RuleVerdict`]s | `ctl rule test` |
//! | claim side | [`Engine::claim`] ([`ClaimParams`], with the finished items) | [`Claimed`] | worker runner |
//! | | [`Engine::finish`] | [`Finished`] | worker runner |
//! | | [`Engine::renew_items`], [`Engine::release_items`] | count | worker runner |
//! | service leases | [`Engine::acquire_service`] (take or renew), [`Engine::release_service`] | held? | worker runner |
//! | | [`Engine::service_owner`] | [`ServiceLease`] | inspection |
//! | capture leases | [`Engine::acquire_capture`] (take, renew, take over or stand by), [`Engine::set_capture_session`], [`Engine::release_capture`] | [`CaptureClaim`] | capture-daemon |
//! | upkeep | [`Engine::rescue_expired`] ([`RescueParams`]) | [`RescueReport`] | worker runner |
//! | | [`Engine::prune`] ([`PruneParams`]) | rows deleted | `ctl queue prune` |
//! | | [`Engine::remove_service`] | [`Removed`] | `ctl service remove` |
//! | reads for display | [`Engine::stats`], [`Engine::list`] ([`ListParams`]) | [`QueueStats`], [`QueueEntry`] | ctl, worker `/api/stats`, demo, bench |
//! | | [`Engine::pending_at_most`] | count | bench (dispatch's own bounded count) |
//! | | [`Engine::latest_event_id`], [`Engine::events_since`] | [`EventTally`] | demo |
//!
//! Everything is synchronous diesel on a [`DbConn`](core_models::DbConn); async callers run
//! one operation per closure on the blocking pool (`Db::run`). Every write is one transaction
//! (a prune, one per batch) or one statement, run again after a transient conflict (a
//! deadlock, a lock-wait timeout, a Galera certification failure at COMMIT, a duplicate
//! message stored concurrently, an overflow victim claimed meanwhile): up to 8 attempts, 2 ms
//! doubling to 256 ms apart with jitter, by core-models' one retry loop
//! ([`core_models::db::retry_transient`]). Nothing of a failed operation is kept, so an
//! operation must not be called inside a caller's transaction.
//!
//! # Lock order
//!
//! This is the contract between the two sides of the engine (dispatch and claim) and the
//! upkeep around them. SQLite needs none of it: every engine transaction starts with
//! `BEGIN IMMEDIATE`, which takes the database's one write lock up front. On MySQL/MariaDB
//! (InnoDB, READ COMMITTED) each operation takes its locks in this order:
//!
//! | operation | locks, in order |
//! | --- | --- |
//! | dispatch | 1. `live_events`: the new rows and their unique-key entries (MariaDB: `INSERT IGNORE`, which takes a shared lock on the entry of a message already stored; MySQL reads by (room_id, msg_id) first, plainly), plain reads by streak for synthesised ends. 2. `service_event_configs` (the rules): a plain read of the enabled rules (skipped when the caller's [`RuleCache`] is fresh), then every rule row of the services the batch goes to, `FOR UPDATE`, in primary-key order: **the dispatch lock**. 3. `services`: plain read (on MySQL, by scalar subqueries of the locking statement, which lock nothing). 3b. `rule_cooldowns` (only when a candidate rule has a cooldown): plain read of the batch's keys, then one multi-row upsert of the firings (`INSERT … ON DUPLICATE KEY UPDATE`), keys sorted. 4. `event_queue`: plain reads (bounded pending count, victim candidates), then victims by primary key (UPDATE re-checking `pending`), then the new rows (INSERT; shared locks on their parents through the foreign keys); for a batch that deletes comments, plain reads of those comments' `live_events` rows and pending items, then the items by primary key (UPDATE re-checking `pending`). 5. `live_sessions`: the session's row (`total_events`), last. |
//! | claim | 1. `service_leases`: the service's lease row, `FOR UPDATE`: **the claim lock**, which a takeover waits for. 2. `event_queue`: in the same statement (the second part of a UNION ALL, [`MYSQL_CLAIM_SQL`]), `SELECT … FOR UPDATE SKIP LOCKED` on `idx_eq_claim` (skips locked rows, never waits); then the finished items by primary key (UPDATE; they are `processing` and the claimer's, so no pending row a dispatch may hold is among them), and an UPDATE of the chosen rows by primary key. 3. `live_events`: plain read of the claimed events. 4. `service_event_configs`: plain read of the claimed items' rules (their actions), never locked, so it never waits for a dispatch lock. |
//! | finish, renew_items, release_items | `event_queue` rows by primary key only. |
//! | rescue_expired | plain read on (status, locked_until), then `event_queue` rows by primary key, the condition re-checked. |
//! | prune (per batch) | plain read on (status, updated_at), then DELETE by primary key, the status re-checked. |
//! | acquire / release service | the lease row by primary key (conditional UPDATE, then `INSERT IGNORE` or DELETE). |
//! | acquire / release capture | the streamer's `capture_leases` row by primary key (plain read, conditional UPDATE or `INSERT IGNORE`, or DELETE); nothing else. |
//! | remove_service | the service's `event_queue` rows (DELETE by service), its lease row, its rules' `rule_cooldowns` rows, then (core-models) its rules and its row. An admin operation; a conflict with a running worker is retried. |
//!
//! Why this never deadlocks (and what the rules forbid):
//!
//! - **An existing `event_queue` row is changed by primary key**: the row first, then its
//!   secondary-index entries. Nobody locks index entries and then waits for a row: the
//!   lookups of victims, expired items and prunable rows are plain reads re-checked by the
//!   UPDATE or DELETE, and the claim's locking read skips what is locked. (The one exception,
//!   `remove_service`'s DELETE by service, is an administrator's rare call, retried.) Locking through a
//!   secondary index takes entries before rows, the opposite order of a completion, and both
//!   times it was tried the two deadlocked (victims read `FOR UPDATE`; a rescue UPDATE driven
//!   by the (status, locked_until) index).
//! - **Dispatch serialises on `service_event_configs`, never on `services`.** Every change of
//!   an item's status rewrites its entry in the index that also serves the foreign key to
//!   `services`, so InnoDB takes a shared lock on the parent `services` row for each claim,
//!   completion or rescue. An exclusive lock there stalled every worker of the service behind
//!   each dispatch batch, and deadlocked with them: a completion holding its index entry
//!   waited for the service row while the dispatcher, holding the service row, waited for that
//!   entry. Nothing references the config rows, and every dispatcher locks them in one order,
//!   so dispatchers of a service queue behind each other and never deadlock among themselves;
//!   a queue never passes its limit by a race.
//! - **The two sides serialise on different rows**: dispatchers on a service's configs,
//!   claimers on its lease row. Neither ever takes the other's, so they never wait for each
//!   other there. They meet only on `event_queue` rows: a dispatch changes an existing row only
//!   to discard a pending victim (by primary key, `pending` re-checked; a victim claimed in
//!   between fails the batch, which is decided again from scratch), and a claim never sees a
//!   dispatch's new rows before it commits.
//! - **Cooldowns are decided under the dispatch lock.** A `rule_cooldowns` row belongs to
//!   one rule, so to one service, and only a dispatcher holding that service's dispatch lock
//!   reads or writes it: the plain read is the truth until the transaction ends, and two
//!   capture daemons (or a restarted one) can never both fire a cooling rule. Nothing else
//!   locks those rows (`ctl rule test` reads them without locks), so they add no cycle.
//! - **A session's row is written last**, by the one committer of that session (the capture's
//!   spool lock keeps a second daemon off the same streamer).
//! - Whatever still conflicts is transient: the transaction is rolled back whole and run
//!   again (see above).

mod batch;
mod capture_lease;
mod claim;
mod cooldown;
mod deleted;
mod dispatch;
mod engine;
mod error;
mod explain;
mod finish;
mod items;
mod lease;
mod live_events;
mod operations;
mod overflow;
mod prune;
mod removal;
mod report;
mod rescue;
mod routes;
mod rules;
mod test_event;
mod time;
mod view;
pub mod workload;

pub use batch::{Batch, BatchGroup, SessionRef};
pub use capture_lease::{CaptureClaim, CaptureLease, CaptureRelease};
pub use claim::{ClaimParams, Claimed, ClaimedItem, MYSQL_CLAIM_SQL, SQLITE_CLAIM_SQL};
pub use engine::Engine;
pub use error::EngineError;
/// How a worker's run of an item ended: what [`Engine::claim`] and [`Engine::finish`] record.
pub use events::Outcome;
pub use explain::{RuleVerdict, Verdict};
pub use finish::Finished;
pub use lease::ServiceLease;
pub use prune::PruneParams;
pub use removal::Removed;
pub use report::{DispatchReport, ServiceReport};
pub use rescue::{RescueParams, RescueReport};
pub use rules::{Miss, RuleCache, RuleTable};
pub use test_event::{TestEvent, TestSent};
pub use view::{EventTally, ListParams, QueueEntry, QueueStats};
