//! Model-based test of DESIGN §5 on both backends: hundreds of random sequences of dispatch /
//! claim / complete / fail / release / renew / rescue, each checked after every step against a
//! small in-memory reference model: same statuses, same victims, same claim order.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{claim, complete, dispatch, event, fail, release, renew, service, session};
use core_models::schema::{event_queue as eq, live_events as le};
use core_models::{with_conn, DbConn, EventType, QueueItem, QueueStatus};
use diesel::prelude::*;
use dispatcher::{Engine, RescueParams, SessionRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use test_support::TestDb;

const TYPES: [EventType; 4] = [
    EventType::Like,
    EventType::Comment,
    EventType::Gift,
    EventType::Follow,
];
const OWNERS: [&str; 2] = ["w1", "w2"];
const MAX_ATTEMPTS: i32 = 3;

#[derive(Debug, Clone, Copy)]
struct Config {
    priority: i32,
    discardable: bool,
    enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Item {
    msg_id: Option<i64>,
    status: QueueStatus,
    priority: i32,
    discardable: bool,
    attempts: i32,
    locked_by: Option<String>,
    /// Claimed with a zero lease (or never renewed since): a rescue takes it.
    expired: bool,
}

/// One service of the reference model: DESIGN §5 written as plainly as possible.
struct ModelService {
    id: i64,
    max: usize,
    active: bool,
    configs: [Config; 4],
    /// Queue rows in insertion (= id) order.
    items: Vec<Item>,
}

impl ModelService {
    fn enqueue(&mut self, ty: usize, msg_id: Option<i64>) {
        let cfg = self.configs[ty];
        if !self.active || !cfg.enabled {
            return;
        }
        let pending = self
            .items
            .iter()
            .filter(|i| i.status == QueueStatus::Pending)
            .count();
        let status = if pending < self.max {
            QueueStatus::Pending
        } else {
            // Rule 2: lowest priority, then oldest, among pending discardable items strictly
            // below the new one.
            let victim = self
                .items
                .iter()
                .enumerate()
                .filter(|(_, i)| {
                    i.status == QueueStatus::Pending && i.discardable && i.priority < cfg.priority
                })
                .min_by_key(|(idx, i)| (i.priority, *idx))
                .map(|(idx, _)| idx);
            match victim {
                Some(v) => {
                    self.items[v].status = QueueStatus::Discarded;
                    QueueStatus::Pending
                }
                None if cfg.discardable => QueueStatus::Discarded,
                None => QueueStatus::Pending,
            }
        };
        self.items.push(Item {
            msg_id,
            status,
            priority: cfg.priority,
            discardable: cfg.discardable,
            attempts: 0,
            locked_by: None,
            expired: false,
        });
    }

    /// Indices claimed, in claim order.
    fn claim(&mut self, n: usize, owner: &str, expired: bool) -> Vec<usize> {
        let mut pending: Vec<usize> = (0..self.items.len())
            .filter(|&i| self.items[i].status == QueueStatus::Pending)
            .collect();
        pending.sort_by_key(|&i| (-self.items[i].priority, i));
        pending.truncate(n);
        for &i in &pending {
            let it = &mut self.items[i];
            it.status = QueueStatus::Processing;
            it.attempts += 1;
            it.locked_by = Some(owner.into());
            it.expired = expired;
        }
        pending
    }

    fn held(&self, i: usize, owner: &str) -> bool {
        let it = &self.items[i];
        it.status == QueueStatus::Processing && it.locked_by.as_deref() == Some(owner)
    }

    fn rescue(&mut self) -> (u64, u64) {
        let (mut requeued, mut failed) = (0, 0);
        for it in &mut self.items {
            if it.status == QueueStatus::Processing && it.expired {
                if it.attempts >= MAX_ATTEMPTS {
                    it.status = QueueStatus::Failed;
                    failed += 1;
                } else {
                    it.status = QueueStatus::Pending;
                    it.locked_by = None;
                    requeued += 1;
                }
                it.expired = false;
            }
        }
        (requeued, failed)
    }
}

/// The database's view of a service, comparable with the model's items: row ids and items,
/// in id order, in one query.
fn observed(conn: &mut DbConn, service_id: i64) -> (Vec<i64>, Vec<Item>) {
    let rows: Vec<(QueueItem, Option<i64>)> = with_conn!(conn, |c| eq::table
        .inner_join(le::table)
        .filter(eq::service_id.eq(service_id))
        .order(eq::id.asc())
        .select((QueueItem::as_select(), le::msg_id))
        .load(c))
    .unwrap();
    let ids = rows.iter().map(|(r, _)| r.id).collect();
    let items = rows
        .into_iter()
        .map(|(r, msg_id)| Item {
            msg_id,
            status: r.status,
            priority: r.priority.get(),
            discardable: r.is_discardable,
            attempts: r.attempts,
            locked_by: r.locked_by,
            expired: false,
        })
        .collect();
    (ids, items)
}

fn strip(items: &[Item]) -> Vec<Item> {
    items
        .iter()
        .map(|i| Item {
            expired: false,
            ..i.clone()
        })
        .collect()
}

fn random_config(rng: &mut StdRng) -> [Config; 4] {
    std::array::from_fn(|_| Config {
        priority: rng.random_range(1..=10),
        discardable: rng.random_bool(0.6),
        enabled: rng.random_bool(0.9),
    })
}

fn run_sequence(conn: &mut DbConn, seq: u64, ops: usize) {
    let mut rng = StdRng::seed_from_u64(seq);
    let mut services: Vec<ModelService> = (0..2)
        .map(|s| {
            let configs = random_config(&mut rng);
            // Mostly small limits, so queues overflow; sometimes a generous one, so a batch's
            // room is settled by the span of the queue's ids rather than by a count.
            let max = match rng.random_range(0..10) {
                0 => 40,
                1 => 400,
                _ => rng.random_range(1..=5),
            };
            let routes: Vec<_> = TYPES
                .iter()
                .zip(&configs)
                .map(|(t, c)| (*t, i64::from(c.priority), c.discardable, c.enabled))
                .collect();
            let slug = format!("m{seq}-{s}");
            let id = service(conn, &slug, max as i64, &routes);
            let active = rng.random_bool(0.9);
            if !active {
                core_models::services::set_active(conn, &slug, false).unwrap();
            }
            ModelService {
                id,
                max,
                active,
                configs,
                items: Vec::new(),
            }
        })
        .collect();
    let ctx: SessionRef = session(conn, &format!("room-{seq}"));
    let mut stored_msgs: HashSet<i64> = HashSet::new();
    // Row ids per service as last observed (model item i is row ids[s][i]).
    let mut ids: Vec<Vec<i64>> = vec![Vec::new(); services.len()];
    let mut next_msg = 0i64;

    for step in 0..ops {
        let what = rng.random_range(0..100);
        let s = rng.random_range(0..services.len());
        let trace = format!("seq {seq} step {step} op {what} service {s}");
        match what {
            // Dispatch a batch (a webcast frame) with some duplicates and msg-less events.
            0..40 => {
                let n = rng.random_range(1..=6);
                let mut batch = Vec::new();
                for _ in 0..n {
                    let ty = rng.random_range(0..TYPES.len());
                    let msg_id = match rng.random_range(0..20) {
                        0 if next_msg > 0 => Some(rng.random_range(0..next_msg)),
                        1 => None,
                        _ => {
                            next_msg += 1;
                            Some(next_msg - 1)
                        }
                    };
                    batch.push((ty, msg_id));
                }
                let events: Vec<_> = batch.iter().map(|&(ty, m)| event(TYPES[ty], m)).collect();
                let report = dispatch(conn, &ctx, &events).unwrap();
                let mut stored = 0;
                for &(ty, m) in &batch {
                    if let Some(m) = m {
                        if !stored_msgs.insert(m) {
                            continue;
                        }
                    }
                    stored += 1;
                    for svc in &mut services {
                        svc.enqueue(ty, m);
                    }
                }
                assert_eq!(report.stored, stored, "{trace}");
            }
            // Claim.
            40..60 => {
                let n = rng.random_range(1..=4);
                let owner = OWNERS[rng.random_range(0..2)];
                let expired = rng.random_bool(0.4);
                let lease = if expired {
                    Duration::ZERO
                } else {
                    Duration::from_secs(3600)
                };
                let svc = &mut services[s];
                let want: Vec<i64> = svc
                    .claim(n, owner, expired)
                    .into_iter()
                    .map(|i| ids[s][i])
                    .collect();
                let got: Vec<i64> = claim(conn, svc.id, n, owner, lease)
                    .unwrap()
                    .iter()
                    .map(|c| c.item.id)
                    .collect();
                assert_eq!(got, want, "{trace}: claim order");
            }
            // Complete / fail / release / renew an item, by its holder or by someone else.
            60..90 => {
                let svc = &mut services[s];
                if svc.items.is_empty() {
                    continue;
                }
                let processing: Vec<usize> = (0..svc.items.len())
                    .filter(|&i| svc.items[i].status == QueueStatus::Processing)
                    .collect();
                let i = if !processing.is_empty() && rng.random_bool(0.8) {
                    processing[rng.random_range(0..processing.len())]
                } else {
                    rng.random_range(0..svc.items.len())
                };
                let owner = OWNERS[rng.random_range(0..2)];
                let id = ids[s][i];
                let allowed = svc.held(i, owner);
                let done = match rng.random_range(0..4) {
                    0 => {
                        if allowed {
                            svc.items[i].status = QueueStatus::Completed;
                        }
                        complete(conn, id, owner).unwrap()
                    }
                    1 => {
                        if allowed {
                            svc.items[i].status = QueueStatus::Failed;
                        }
                        fail(conn, id, owner, "service said no").unwrap()
                    }
                    2 => {
                        if allowed {
                            let it = &mut svc.items[i];
                            it.status = QueueStatus::Pending;
                            it.attempts -= 1;
                            it.locked_by = None;
                            it.expired = false;
                        }
                        release(conn, id, owner).unwrap()
                    }
                    _ => {
                        if allowed {
                            svc.items[i].expired = false;
                        }
                        renew(conn, id, owner, Duration::from_secs(3600)).unwrap()
                    }
                };
                assert_eq!(done, allowed, "{trace}: item {i}");
            }
            // Rescue expired leases of every service.
            _ => {
                let (mut requeued, mut failed) = (0, 0);
                for svc in &mut services {
                    let (r, f) = svc.rescue();
                    requeued += r;
                    failed += f;
                }
                // Scoped to this sequence's services, so parallel sequences do not interfere.
                let mut got = (0, 0);
                for svc in &services {
                    let r = Engine::new(conn)
                        .rescue_expired(RescueParams {
                            service_id: Some(svc.id),
                            max_attempts: MAX_ATTEMPTS,
                        })
                        .unwrap();
                    got.0 += r.requeued;
                    got.1 += r.failed;
                }
                assert_eq!(got, (requeued, failed), "{trace}: rescue");
            }
        }
        for (svc, svc_ids) in services.iter().zip(&mut ids) {
            let (now_ids, items) = observed(conn, svc.id);
            assert_eq!(items, strip(&svc.items), "{trace}: queue state");
            *svc_ids = now_ids;
        }
    }
    // Every active service receives every dispatch: remove this sequence's services (and
    // their queue rows) so later sequences neither feed them nor scan their rows.
    for s in 0..services.len() {
        Engine::new(conn)
            .remove_service(&format!("m{seq}-{s}"))
            .unwrap();
    }
}

/// Sequences to run: `MODEL_SEQUENCES` or the backend's default.
fn sequences(default: u64) -> u64 {
    std::env::var("MODEL_SEQUENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_sequences_match_the_reference_model_on_sqlite() {
    let db = TestDb::sqlite();
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    for seq in 0..sequences(200) {
        run_sequence(&mut conn, seq, 30);
    }
}

#[test]
fn random_sequences_match_the_reference_model_on_mariadb() {
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    for seq in 0..sequences(200) {
        run_sequence(&mut conn, 1_000_000 + seq, 30);
    }
}
