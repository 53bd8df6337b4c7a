//! Store and route: a batch in one transaction, in named steps. Store the events, take the
//! rules of their types (from the caller's cache or the database), take the dispatch lock of
//! the services they go to, read the cooldowns of the rules that have one, choose each
//! event's rule per service and decide the service's rows with the overflow policy, write the
//! firings, discard the chosen victims, insert the rows, discard the pending items of
//! comments the batch deletes, and add what was stored to the session's `total_events`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use core_models::models::now;
use core_models::schema::event_queue as eq;
use core_models::stmt::{cacheable_rows, padded, Cached, SqliteInsert};
use core_models::{
    sessions, with_conn, CapturedEvent, DbConn, EventType, Priority, QueueReason, QueueStatus,
};
use diesel::prelude::*;

use crate::batch::{BatchGroup, SessionRef};
use crate::cooldown::CooldownBook;
use crate::deleted::{self, Deletions};
use crate::error::{retry, EngineError};
use crate::live_events::{self, NewLiveEvent};
use crate::overflow::{Candidate, Decision, QueueState};
use crate::report::{DispatchReport, ServiceReport};
use crate::routes::{self, LockedService, QueueProbe};
use crate::rules::{CompiledRule, RuleCache, RuleTable, Verdict};

/// Rows per multi-row INSERT into `event_queue` (11 columns).
const INSERT_CHUNK: usize = 1000;
/// Ids per `UPDATE … WHERE id IN (…)`.
const IN_CHUNK: usize = 1000;

/// Stores and routes a batch (see [`Engine::dispatch`](crate::Engine::dispatch)): the rows are
/// cleaned once, then the whole transaction runs, again after a transient conflict. With a
/// cache, the rules come from it; without, they are read in the transaction.
pub(crate) fn dispatch(
    conn: &mut DbConn,
    batch: &BatchGroup<'_>,
    cache: Option<&RuleCache>,
) -> Result<DispatchReport, EngineError> {
    if batch.events().is_empty() {
        return Ok(DispatchReport::default());
    }
    let t = now();
    let rows = live_events::prepare(batch.session(), batch.events(), t);
    let deletions = Deletions::of(batch.events());
    retry(|| {
        conn.transaction(|conn| {
            let input = Input {
                batch,
                rows: &rows,
                deletions: &deletions,
                cache,
            };
            dispatch_in_tx(conn, &input, t)
        })
    })
}

/// A batch prepared for its transaction.
struct Input<'a> {
    batch: &'a BatchGroup<'a>,
    rows: &'a [NewLiveEvent],
    deletions: &'a Deletions,
    cache: Option<&'a RuleCache>,
}

/// One attempt, inside its transaction.
fn dispatch_in_tx(
    conn: &mut DbConn,
    input: &Input<'_>,
    t: NaiveDateTime,
) -> Result<DispatchReport, EngineError> {
    let batch = input.batch;
    let event_ids = live_events::store(conn, input.rows, batch.events())?;
    let stored = StoredEvents::new(input.rows, batch.events(), &event_ids);
    let mut report = DispatchReport {
        stored: stored.len() as u64,
        duplicates: (input.rows.len() - stored.len()) as u64,
        event_ids,
        services: BTreeMap::new(),
        deleted: 0,
    };
    let types = stored.types();
    let table = match input.cache {
        Some(cache) => cache.table(conn)?,
        None => std::sync::Arc::new(RuleTable::load(conn, Some(&types))?),
    };
    let table: &RuleTable = &table;
    let ids = table.services_for(&types, &batch.session().streamer_unique_id);
    let services = routes::lock_services(conn, &ids)?;
    let active: Vec<&LockedService> = services.iter().filter(|s| s.is_active).collect();
    let active_ids: Vec<i64> = active.iter().map(|s| s.id).collect();
    let needed = table.cooldown_keys(&active_ids, &stored.captured());
    let mut cooldowns = CooldownBook::load(conn, &needed)?;

    // Each service's events in turn, so each event meets the cooldowns the ones before left.
    let routed: Vec<(&LockedService, Vec<RoutedEvent<'_>>)> = active
        .into_iter()
        .map(|service| (service, stored.routed(table, service.id, &mut cooldowns)))
        .filter(|(_, events)| !events.is_empty())
        .collect();
    let probes: Vec<QueueProbe> = routed
        .iter()
        .map(|(service, events)| QueueProbe {
            service_id: service.id,
            cap: queue_limit(service),
            incoming: i64::try_from(events.len()).unwrap_or(i64::MAX),
        })
        .collect();
    let pending = routes::pending_counts(conn, &probes)?;

    let mut plan = Plan::default();
    for (service, events) in &routed {
        // Every branch of the batch's count returns a row; were one missing, the service is
        // counted alone rather than taken for empty.
        let pending = match pending.get(&service.id) {
            Some(&n) => n,
            None => routes::pending_count(conn, service.id, queue_limit(service))?,
        };
        let sr = plan.service(conn, service, events, pending, t)?;
        report.services.insert(service.id, sr);
    }
    cooldowns.write(conn)?;
    plan.discard_victims(conn, t)?;
    plan.insert_rows(conn)?;
    // After the inserts: a comment deleted in its own batch is caught too.
    report.deleted = deleted::discard(conn, batch.session(), input.deletions, t)?;
    count_session_events(conn, batch.session(), report.stored)?;
    Ok(report)
}

/// The events of the batch that were stored (not duplicates), in batch order, with their ids.
struct StoredEvents<'r> {
    events: Vec<(i64, &'r NewLiveEvent, &'r CapturedEvent)>,
}

impl<'r> StoredEvents<'r> {
    /// `rows` and `captured` are the same batch, in order.
    fn new(rows: &'r [NewLiveEvent], captured: &[&'r CapturedEvent], ids: &[Option<i64>]) -> Self {
        StoredEvents {
            events: rows
                .iter()
                .zip(captured.iter().copied())
                .zip(ids)
                .filter_map(|((row, c), id)| Some(((*id)?, row, c)))
                .collect(),
        }
    }

    /// The captured events, as the rules read them.
    fn captured(&self) -> Vec<&'r CapturedEvent> {
        self.events.iter().map(|&(_, _, c)| c).collect()
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    /// Their event types, each once.
    fn types(&self) -> Vec<EventType> {
        let mut types: Vec<EventType> = self.events.iter().map(|(_, e, _)| e.event_type).collect();
        types.sort();
        types.dedup();
        types
    }

    /// Those a service's rules take, with the rule each goes under, in batch order: the
    /// rules are checked in matching order, each event against the cooldowns as the events
    /// before it left them.
    fn routed<'s>(
        &'s self,
        table: &'s RuleTable,
        service_id: i64,
        cooldowns: &mut CooldownBook,
    ) -> Vec<RoutedEvent<'s>> {
        self.events
            .iter()
            .filter_map(|&(id, event, captured)| {
                Some(RoutedEvent {
                    id,
                    event,
                    verdict: table.choose(service_id, captured, event.created_at, cooldowns)?,
                })
            })
            .collect()
    }
}

/// A stored event and what one service's rules make of it.
struct RoutedEvent<'a> {
    /// Its `live_events` id.
    id: i64,
    event: &'a NewLiveEvent,
    verdict: Verdict<'a>,
}

impl RoutedEvent<'_> {
    /// The rule it goes under (the firing one, or the first cooling one).
    fn rule(&self) -> &CompiledRule {
        match self.verdict {
            Verdict::Fire(r) | Verdict::Cooling(r) => r,
        }
    }
}

/// An `event_queue` row to insert; the rule's name, priority, is_async and is_discardable are
/// copied from the rule at enqueue time.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = eq, treat_none_as_default_value = false)]
struct NewQueueRow {
    service_id: i64,
    live_event_id: i64,
    session_id: i64,
    status: QueueStatus,
    reason: Option<QueueReason>,
    rule_name: Option<String>,
    priority: Priority,
    is_async: bool,
    is_discardable: bool,
    attempts: i32,
    processed_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// What the batch writes to `event_queue`, decided service by service.
#[derive(Default)]
struct Plan {
    /// New rows, every service's, in batch order within a service.
    rows: Vec<NewQueueRow>,
    /// Stored pending items to discard as overflow victims, by id.
    victims: Vec<i64>,
}

impl Plan {
    /// Decides what each of a service's events becomes in its queue (DESIGN §5), adding the
    /// rows to the plan; returns the service's counts.
    fn service(
        &mut self,
        conn: &mut DbConn,
        service: &LockedService,
        events: &[RoutedEvent<'_>],
        pending: u64,
        t: NaiveDateTime,
    ) -> Result<ServiceReport, EngineError> {
        let mut state = queue_state(conn, service, events, pending)?;
        let mut report = ServiceReport {
            slug: service.slug.clone(),
            ..ServiceReport::default()
        };
        for e in events {
            let rule = e.rule();
            let (status, reason) = match e.verdict {
                Verdict::Fire(rule) => {
                    let decision =
                        state.decide(self.rows.len(), rule.priority, rule.is_discardable);
                    let status = self.apply(decision, &mut report, t);
                    let dropped = status == QueueStatus::Discarded;
                    (status, dropped.then_some(QueueReason::Overflow))
                }
                // Takes no room in the queue: the overflow policy never sees it.
                Verdict::Cooling(_) => {
                    report.cooldown += 1;
                    (QueueStatus::Discarded, Some(QueueReason::Cooldown))
                }
            };
            self.rows.push(NewQueueRow {
                service_id: service.id,
                live_event_id: e.id,
                session_id: e.event.session_id,
                status,
                reason,
                rule_name: Some(rule.name.clone()),
                priority: rule.priority,
                is_async: rule.is_async,
                is_discardable: rule.is_discardable,
                attempts: 0,
                processed_at: (status == QueueStatus::Discarded).then_some(t),
                created_at: t,
                updated_at: t,
            });
        }
        if report.overflow > 0 {
            // Debug, not warn: during a burst this is every frame; the report carries the
            // counts for the capture daemon to print.
            tracing::debug!(
                service = %service.slug,
                overflow = report.overflow,
                "queue over its limit: non-discardable events enqueued anyway"
            );
        }
        Ok(report)
    }

    /// Counts a decision and marks its victim; returns the status of the new event's row.
    fn apply(
        &mut self,
        decision: Decision,
        report: &mut ServiceReport,
        t: NaiveDateTime,
    ) -> QueueStatus {
        match decision {
            Decision::Enqueue => report.enqueued += 1,
            Decision::Replace(victim) => {
                report.enqueued += 1;
                report.discarded_victim += 1;
                match victim {
                    Candidate::Stored(id) => self.victims.push(id),
                    Candidate::New(i) => {
                        if let Some(row) = self.rows.get_mut(i) {
                            row.status = QueueStatus::Discarded;
                            row.reason = Some(QueueReason::Overflow);
                            row.processed_at = Some(t);
                        }
                    }
                }
            }
            Decision::DiscardNew => {
                report.discarded_new += 1;
                return QueueStatus::Discarded;
            }
            Decision::Overflow => {
                report.enqueued += 1;
                report.overflow += 1;
            }
        }
        QueueStatus::Pending
    }

    /// Discards the stored victims, by primary key and only if still `pending`.
    fn discard_victims(&self, conn: &mut DbConn, t: NaiveDateTime) -> Result<(), EngineError> {
        for chunk in self.victims.chunks(IN_CHUNK) {
            // Victims are distinct, so padding the list changes no count.
            let ids = padded(chunk);
            let n = with_conn!(conn, |c| Cached::new(
                diesel::update(
                    eq::table
                        .filter(eq::id.eq_any(&ids))
                        .filter(eq::status.eq(QueueStatus::Pending))
                )
                .set((
                    eq::status.eq(QueueStatus::Discarded),
                    eq::reason.eq(Some(QueueReason::Overflow)),
                    eq::processed_at.eq(Some(t)),
                    eq::updated_at.eq(t),
                ))
            )
            .execute(c))?;
            if n != chunk.len() {
                // A worker claimed a victim after it was read: decide again from scratch.
                return Err(EngineError::VictimTaken);
            }
        }
        Ok(())
    }

    /// Writes the new rows with multi-row INSERTs.
    fn insert_rows(&self, conn: &mut DbConn) -> Result<(), EngineError> {
        for chunk in self.rows.chunks(INSERT_CHUNK) {
            let keep = cacheable_rows(chunk.len(), INSERT_CHUNK);
            match conn {
                DbConn::Mysql(c) => {
                    let insert = diesel::insert_into(eq::table).values(chunk);
                    Cached::when(keep, insert).execute(c)?
                }
                DbConn::Sqlite(c) => {
                    SqliteInsert::new::<NewQueueRow>(eq::table, chunk, keep).execute(c)?
                }
            };
        }
        Ok(())
    }
}

/// A service's queue size limit, which is also what its pending count is capped at.
fn queue_limit(service: &LockedService) -> i64 {
    i64::from(service.max_queue_size.max(0))
}

/// A service's queue as the policy needs it: its bounded pending count (read for every
/// service of the batch at once) and, only if the batch can fill the queue, the victim
/// candidates. A batch of n events takes at most n victims, lowest first, so the n lowest
/// candidates are enough.
fn queue_state(
    conn: &mut DbConn,
    service: &LockedService,
    events: &[RoutedEvent<'_>],
    pending: u64,
) -> Result<QueueState, EngineError> {
    let max = queue_limit(service);
    let n = events.len() as u64;
    let candidates = match events.iter().map(|e| e.rule().priority).max() {
        Some(top) if pending + n > max as u64 => {
            routes::victim_candidates(conn, service.id, top, n as i64)?
        }
        _ => Vec::new(),
    };
    Ok(QueueState::new(max as u64, pending, candidates))
}

/// Adds the events stored to the session's `total_events`, last in the transaction.
fn count_session_events(
    conn: &mut DbConn,
    session: &SessionRef,
    stored: u64,
) -> Result<(), EngineError> {
    let stored = i64::try_from(stored).unwrap_or(i64::MAX);
    Ok(sessions::add_events(conn, session.session_id, stored)?)
}
