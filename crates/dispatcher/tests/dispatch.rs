//! Dispatch on both backends: storage, de-duplication, the overflow policy of DESIGN §5, the
//! original's overload scenario, and (MariaDB) concurrent dispatchers into one service.

use std::collections::{BTreeMap, HashSet};

use chrono::{TimeZone, Utc};
use core_models::schema::{event_queue as eq, live_events as le};
use core_models::services::{self, NewService};
use core_models::{
    seed, sessions, with_conn, CapturedEvent, DbConn, EventRoute, EventType, MaxQueueSize,
    Priority, QueueItem, QueueStatus, ServiceKind, Streak, StreakStatus,
};
use diesel::prelude::*;
use dispatcher::{Batch, DispatchReport, Engine, EngineError, ServiceReport, SessionRef};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use test_support::TestDb;

fn event(ty: EventType, msg_id: Option<i64>) -> CapturedEvent {
    CapturedEvent {
        event_type: ty,
        msg_id,
        timestamp: Utc.timestamp_opt(1_790_000_000, 123_456_789).unwrap(),
        user_id: Some("42".into()),
        user_unique_id: Some("fan".into()),
        user_nickname: Some("Fan 🎉".into()),
        streak: None,
        data: serde_json::json!({"user": {"unique_id": "fan", "nickname": "Fan 🎉"}}),
        received_at: None,
    }
}

fn session(conn: &mut DbConn, room: &str) -> SessionRef {
    let s = sessions::start(conn, Some("test"), room, "streamer").unwrap();
    SessionRef::of(&s)
}

/// Stores and routes `events` as one batch of `session`.
fn dispatch(
    conn: &mut DbConn,
    session: &SessionRef,
    events: &[CapturedEvent],
) -> Result<DispatchReport, EngineError> {
    Engine::new(conn).dispatch(&Batch {
        session: session.clone(),
        events: events.to_vec(),
    })
}

/// A service with these (type, priority, discardable) routes; returns its id.
fn service(conn: &mut DbConn, slug: &str, max: i64, routes: &[(EventType, i64, bool)]) -> i64 {
    let detail = services::add(
        conn,
        &NewService {
            name: slug.into(),
            slug: slug.parse().unwrap(),
            kind: ServiceKind::Dummy,
            description: String::new(),
            is_active: true,
            max_queue_size: MaxQueueSize::new(max).unwrap(),
            settings: Vec::new(),
            streamers: Vec::new(),
            routes: routes
                .iter()
                .map(|&(event_type, p, is_discardable)| EventRoute {
                    event_type,
                    priority: Priority::new(p).unwrap(),
                    is_async: p % 2 == 0,
                    is_discardable,
                    is_enabled: true,
                })
                .collect(),
        },
    )
    .unwrap();
    detail.service.id
}

/// Adds a batch's counts to running totals (`event_ids` are per batch and not added).
fn merge(total: &mut DispatchReport, batch: &DispatchReport) {
    total.stored += batch.stored;
    total.duplicates += batch.duplicates;
    for (id, s) in &batch.services {
        let mine = total.services.entry(*id).or_insert_with(|| ServiceReport {
            slug: s.slug.clone(),
            ..ServiceReport::default()
        });
        mine.enqueued += s.enqueued;
        mine.discarded_victim += s.discarded_victim;
        mine.discarded_new += s.discarded_new;
        mine.overflow += s.overflow;
    }
}

fn queue(conn: &mut DbConn, service_id: i64) -> Vec<QueueItem> {
    with_conn!(conn, |c| eq::table
        .filter(eq::service_id.eq(service_id))
        .order(eq::id.asc())
        .select(QueueItem::as_select())
        .load(c))
    .unwrap()
}

fn statuses(conn: &mut DbConn, service_id: i64) -> Vec<(i32, QueueStatus)> {
    queue(conn, service_id)
        .into_iter()
        .map(|q| (q.priority.get(), q.status))
        .collect()
}

#[test]
fn stores_events_and_copies_the_config() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(
            &mut conn,
            "s",
            10,
            &[(EventType::Gift, 10, false), (EventType::Like, 3, true)],
        );
        let ctx = session(&mut conn, "room1");
        let mut gift = event(EventType::Gift, Some(1));
        gift.streak = Some(Streak {
            id: "st-1".into(),
            status: StreakStatus::Start,
        });
        gift.user_nickname = Some("bad\0nick\u{7}👩‍👩‍👧".into());
        gift.user_id = Some("9".repeat(100));
        let events = vec![
            gift,
            event(EventType::Like, Some(2)),
            event(EventType::Comment, None),
        ];
        let report = dispatch(&mut conn, &ctx, &events).unwrap();
        assert_eq!(report.stored, 3);
        assert_eq!(report.duplicates, 0);
        assert!(report.event_ids.iter().all(Option::is_some));
        let sr = &report.services[&svc];
        assert_eq!(
            (
                sr.enqueued,
                sr.discarded_victim,
                sr.discarded_new,
                sr.overflow
            ),
            (2, 0, 0, 0)
        );

        let items = queue(&mut conn, svc);
        assert_eq!(items.len(), 2, "the comment has no route");
        assert_eq!(items[0].live_event_id, report.event_ids[0].unwrap());
        assert_eq!(
            (
                items[0].priority.get(),
                items[0].is_async,
                items[0].is_discardable
            ),
            (10, true, false)
        );
        assert_eq!(
            (
                items[1].priority.get(),
                items[1].is_async,
                items[1].is_discardable
            ),
            (3, false, true)
        );
        assert!(items
            .iter()
            .all(|i| i.status == QueueStatus::Pending && i.attempts == 0));
        assert!(items.iter().all(|i| i.session_id == ctx.session_id));

        type Stored = (Option<String>, Option<String>, bool, Option<String>, String);
        let stored: Vec<Stored> = with_conn!(&mut conn, |c| le::table
            .order(le::id.asc())
            .select((
                le::user_nickname,
                le::user_id,
                le::is_streaking,
                le::streak_id,
                le::room_id
            ))
            .load(c))
        .unwrap();
        assert_eq!(stored[0].0.as_deref(), Some("badnick👩‍👩‍👧"));
        assert_eq!(stored[0].1.as_ref().map(|s| s.chars().count()), Some(64));
        assert!(stored[0].2);
        assert_eq!(stored[0].3.as_deref(), Some("st-1"));
        assert_eq!(stored[0].4, "room1");
        assert!(!stored[1].2);
    }
}

#[test]
fn duplicates_are_neither_stored_nor_dispatched() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(
            &mut conn,
            "s",
            10,
            &[(EventType::Like, 3, true), (EventType::Comment, 5, true)],
        );
        let ctx = session(&mut conn, "room1");
        let r1 = dispatch(
            &mut conn,
            &ctx,
            &[
                event(EventType::Like, Some(7)),
                event(EventType::Like, Some(7)),
            ],
        )
        .unwrap();
        assert_eq!((r1.stored, r1.duplicates), (1, 1));
        assert_eq!(r1.event_ids[1], None);
        let r2 = dispatch(
            &mut conn,
            &ctx,
            &[
                event(EventType::Like, Some(7)),
                event(EventType::Comment, Some(8)),
                event(EventType::Comment, None),
                event(EventType::Comment, None),
            ],
        )
        .unwrap();
        assert_eq!((r2.stored, r2.duplicates), (3, 1));
        assert_eq!(r2.event_ids[0], None);
        assert_eq!(queue(&mut conn, svc).len(), 4);
        // The same msg_id in another room is another message.
        let other = session(&mut conn, "room2");
        let r3 = dispatch(&mut conn, &other, &[event(EventType::Like, Some(7))]).unwrap();
        assert_eq!(r3.stored, 1);
        assert_eq!(queue(&mut conn, svc).len(), 5);
        assert_eq!(
            dispatch(&mut conn, &other, &[]).unwrap(),
            DispatchReport::default()
        );
    }
}

/// A batch that mixes stored and new messages gets, for each new one, the id of its own row
/// (SQLite numbers a whole insert itself and reads a partial one back; MariaDB returns them),
/// and its queue rows point at that row.
#[test]
fn new_messages_among_stored_ones_get_their_own_ids() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(&mut conn, "s", 100, &[(EventType::Like, 3, true)]);
        let ctx = session(&mut conn, "room1");
        let like = |m: i64| event(EventType::Like, Some(m));
        dispatch(&mut conn, &ctx, &[like(7), like(8), like(9)]).unwrap();
        let batches: [&[i64]; 3] = [&[20, 7, 21, 8, 22], &[30, 31, 32], &[9, 40]];
        for msg_ids in batches {
            let events: Vec<_> = msg_ids.iter().map(|&m| like(m)).collect();
            let report = dispatch(&mut conn, &ctx, &events).unwrap();
            for (&m, id) in msg_ids.iter().zip(&report.event_ids) {
                let Some(id) = id else {
                    assert!([7, 8, 9].contains(&m), "{m} is new but got no id");
                    continue;
                };
                let stored: Option<i64> = with_conn!(&mut conn, |c| le::table
                    .find(*id)
                    .select(le::msg_id)
                    .first(c))
                .unwrap();
                assert_eq!(stored, Some(m), "msg {m} got the id of another row");
            }
        }
        let mut queued: Vec<i64> = queue(&mut conn, svc)
            .iter()
            .map(|item| {
                with_conn!(&mut conn, |c| le::table
                    .find(item.live_event_id)
                    .select(le::msg_id)
                    .first::<Option<i64>>(c))
                .unwrap()
                .unwrap()
            })
            .collect();
        queued.sort_unstable();
        assert_eq!(queued, [7, 8, 9, 20, 21, 22, 30, 31, 32, 40]);
    }
}

#[test]
fn overflow_policy_rules_one_to_four() {
    use EventType::*;
    use QueueStatus::{Discarded as D, Pending as P};
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(
            &mut conn,
            "s",
            3,
            &[
                (Like, 2, true),
                (Join, 3, true),
                (Comment, 5, true),
                (Gift, 10, false),
                (Follow, 1, false),
            ],
        );
        let ctx = session(&mut conn, "r");
        let mut id = 0;
        let mut send = |conn: &mut DbConn, types: &[EventType]| {
            let evs: Vec<_> = types
                .iter()
                .map(|t| {
                    id += 1;
                    event(*t, Some(id))
                })
                .collect();
            dispatch(conn, &ctx, &evs).unwrap().services[&svc].clone()
        };
        // Rule 1 up to the limit, in one batch.
        send(&mut conn, &[Join, Like, Like]);
        // Rule 2: the lowest (Like 2), oldest first; the Join (3) is not the lowest.
        let r = send(&mut conn, &[Comment]);
        assert_eq!((r.enqueued, r.discarded_victim), (1, 1));
        assert_eq!(
            statuses(&mut conn, svc),
            vec![(3, P), (2, D), (2, P), (5, P)]
        );
        // Rule 3: a Like finds nothing strictly below it.
        let r = send(&mut conn, &[Like]);
        assert_eq!((r.enqueued, r.discarded_new), (0, 1));
        // Rule 4: a Follow (1, keep) finds no victim and overflows. Then a Gift takes the last
        // Like, a Comment the Join (3 < 5), a Gift the older Comment, and the last Gift the
        // Comment enqueued earlier in its own batch.
        let r = send(&mut conn, &[Follow, Gift, Comment, Gift, Gift]);
        assert_eq!(
            (r.enqueued, r.discarded_victim, r.discarded_new, r.overflow),
            (5, 4, 0, 1)
        );
        assert_eq!(
            statuses(&mut conn, svc),
            vec![
                (3, D),
                (2, D),
                (2, D),
                (5, D),
                (2, D),
                (1, P),
                (10, P),
                (5, D),
                (10, P),
                (10, P)
            ]
        );
        let pending = queue(&mut conn, svc)
            .iter()
            .filter(|q| q.status == P)
            .count();
        assert_eq!(pending, 4, "3 plus one overflow");
        assert!(queue(&mut conn, svc)
            .iter()
            .all(|q| (q.status == D) == q.processed_at.is_some()));
        // Every drop says why: victims (stored or of the same batch) and new events alike.
        assert!(queue(&mut conn, svc)
            .iter()
            .all(|q| q.reason == (q.status == D).then_some(core_models::QueueReason::Overflow)));
    }
}

#[test]
fn inactive_services_and_disabled_configs_get_nothing() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        seed::populate_initial_data(&mut conn).unwrap();
        let off = service(&mut conn, "off", 10, &[(EventType::Join, 5, true)]);
        services::set_active(&mut conn, "off", false).unwrap();
        let ctx = session(&mut conn, "r");
        let r = dispatch(&mut conn, &ctx, &[event(EventType::Join, Some(1))]).unwrap();
        // DinoChrome's Join config is disabled; only Overlays takes it.
        let slugs: Vec<&str> = r.services.values().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, vec!["overlays"]);
        assert!(queue(&mut conn, off).is_empty());
    }
}

/// The original's overload scenario (DESIGN §5 / seed-semantics): both seeded services, a
/// 5,000-event burst, no workers. The original loses 127 of 200 gifts in Overlays.
#[test]
fn overload_burst_loses_no_gift_follow_or_subscription() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        seed::populate_initial_data(&mut conn).unwrap();
        let ctx = session(&mut conn, "burst");
        // Exactly the mix (60 % like, 25 % comment, 8 % join, 4 % gift, 2 % follow, 1 %
        // share), shuffled: 200 gifts, as in the original's figure.
        let mix = [
            (EventType::Like, 3000),
            (EventType::Comment, 1250),
            (EventType::Join, 400),
            (EventType::Gift, 200),
            (EventType::Follow, 100),
            (EventType::Share, 50),
        ];
        let mut types: Vec<EventType> = mix
            .iter()
            .flat_map(|&(ty, n)| std::iter::repeat_n(ty, n))
            .collect();
        types.shuffle(&mut StdRng::seed_from_u64(5000));
        let events: Vec<CapturedEvent> = types
            .iter()
            .zip(0..)
            .map(|(&ty, i)| event(ty, Some(i)))
            .collect();
        for (ty, n) in mix {
            assert_eq!(events.iter().filter(|e| e.event_type == ty).count(), n);
        }
        let mut total = DispatchReport::default();
        // TikTok delivers bursts as frames of a few dozen messages.
        for frame in events.chunks(40) {
            merge(&mut total, &dispatch(&mut conn, &ctx, frame).unwrap());
        }
        assert_eq!(total.stored, 5000);
        let services = services::list(&mut conn).unwrap();
        for svc in services {
            let items = queue(&mut conn, svc.id);
            let configs = services::configs(&mut conn, svc.id).unwrap();
            let enabled: HashSet<EventType> = configs
                .iter()
                .filter(|c| c.is_enabled)
                .map(|c| c.event_type)
                .collect();
            let types: BTreeMap<i64, EventType> = with_conn!(&mut conn, |c| le::table
                .select((le::id, le::event_type))
                .load::<(i64, EventType)>(c))
            .unwrap()
            .into_iter()
            .collect();
            // Every event with an enabled route has exactly one row: every drop is visible.
            let routed = events
                .iter()
                .filter(|e| enabled.contains(&e.event_type))
                .count();
            assert_eq!(items.len(), routed, "{}", svc.slug);
            let mut by_type: BTreeMap<(EventType, QueueStatus), usize> = BTreeMap::new();
            for it in &items {
                *by_type
                    .entry((types[&it.live_event_id], it.status))
                    .or_default() += 1;
            }
            for keep in [EventType::Gift, EventType::Follow, EventType::Subscribe] {
                assert_eq!(
                    by_type.get(&(keep, QueueStatus::Discarded)),
                    None,
                    "{}: {keep}",
                    svc.slug
                );
                let sent = events.iter().filter(|e| e.event_type == keep).count();
                assert_eq!(
                    by_type
                        .get(&(keep, QueueStatus::Pending))
                        .copied()
                        .unwrap_or(0),
                    sent,
                    "{}: every {keep} pending",
                    svc.slug
                );
            }
            let pending = items
                .iter()
                .filter(|i| i.status == QueueStatus::Pending)
                .count() as u64;
            let sr = &total.services[&svc.id];
            assert_eq!(
                pending,
                svc.max_queue_size as u64 + sr.overflow,
                "{}",
                svc.slug
            );
            let discarded = items
                .iter()
                .filter(|i| i.status == QueueStatus::Discarded)
                .count() as u64;
            assert_eq!(
                discarded,
                sr.discarded_new + sr.discarded_victim,
                "{}",
                svc.slug
            );
            println!("{:?} {}: {by_type:?} report {sr:?}", db.backend(), svc.slug);
        }
    }
}

/// Four dispatchers feeding one service with max 100 (MariaDB): the per-service lock keeps
/// the queue at its limit plus the non-discardable overflow, and loses no gift.
#[test]
fn concurrent_dispatchers_respect_the_limit() {
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = service(
        &mut conn,
        "s",
        100,
        &[
            (EventType::Like, 2, true),
            (EventType::Comment, 5, true),
            (EventType::Gift, 10, false),
        ],
    );
    // Four capture daemons: a session each (a session has one committer), on one room.
    let sessions: Vec<SessionRef> = (0..4).map(|_| session(&mut conn, "r")).collect();
    // While they run, sample the queue: discardable items are only ever admitted below the
    // limit (rules 1 and 2), so with no workers at most 100 of them are pending at any
    // moment; a race between dispatchers would show up as 101 or more.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (url, running) = (db.db_url().clone(), running.clone());
        std::thread::spawn(move || {
            let mut conn = DbConn::establish(&url).unwrap();
            let mut samples = 0;
            let mut worst = 0;
            while running.load(std::sync::atomic::Ordering::SeqCst) {
                let n: i64 = with_conn!(&mut conn, |c| eq::table
                    .filter(eq::service_id.eq(svc))
                    .filter(eq::status.eq(QueueStatus::Pending))
                    .filter(eq::is_discardable.eq(true))
                    .count()
                    .get_result(c))
                .unwrap();
                worst = worst.max(n);
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (samples, worst)
        })
    };
    // All four send each of their batches at the same moment, so they really compete.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = db.db_url().clone();
            let ctx = sessions[t as usize].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = DbConn::establish(&url).unwrap();
                let mut rng = StdRng::seed_from_u64(t);
                let mut total = DispatchReport::default();
                let mut gifts = Vec::new();
                for b in 0..40 {
                    barrier.wait();
                    let evs: Vec<_> = (0..20)
                        .map(|i| {
                            let ty = match rng.random_range(0..10) {
                                0 => EventType::Gift,
                                1..4 => EventType::Comment,
                                _ => EventType::Like,
                            };
                            event(ty, Some(t as i64 * 1_000_000 + b * 100 + i))
                        })
                        .collect();
                    gifts.extend(
                        evs.iter()
                            .filter(|e| e.event_type == EventType::Gift)
                            .filter_map(|e| e.msg_id),
                    );
                    merge(&mut total, &dispatch(&mut conn, &ctx, &evs).unwrap());
                }
                (total, gifts)
            })
        })
        .collect();
    let mut total = DispatchReport::default();
    let mut gifts = Vec::new();
    for t in threads {
        let (r, g) = t.join().unwrap();
        merge(&mut total, &r);
        gifts.extend(g);
    }
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let (samples, worst) = sampler.join().unwrap();
    assert!(worst <= 100, "{worst} discardable items pending at once");
    assert!(samples > 10, "the sampler ran ({samples} samples)");
    let sr = &total.services[&svc];
    let items = queue(&mut conn, svc);
    let pending = items
        .iter()
        .filter(|i| i.status == QueueStatus::Pending)
        .count() as u64;
    assert_eq!(items.len(), 4 * 40 * 20);
    assert!(
        pending <= 100 + sr.overflow,
        "pending {pending}, overflow {}",
        sr.overflow
    );
    assert_eq!(
        pending,
        100 + sr.overflow,
        "no workers: the queue is exactly full"
    );
    let gift_rows: Vec<(Option<i64>, QueueStatus)> = with_conn!(&mut conn, |c| eq::table
        .inner_join(le::table)
        .filter(le::event_type.eq(EventType::Gift))
        .select((le::msg_id, eq::status))
        .load(c))
    .unwrap();
    assert_eq!(gift_rows.len(), gifts.len());
    assert!(gift_rows.iter().all(|(_, s)| *s == QueueStatus::Pending));
    println!(
        "concurrent: {sr:?}, gifts {}, {samples} samples, worst {worst} discardable pending",
        gifts.len()
    );
}

/// Two dispatchers storing the same messages at once (two capture daemons on one room):
/// each message is stored and queued once.
#[test]
fn concurrent_duplicates_are_stored_once() {
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = service(&mut conn, "s", 1000, &[(EventType::Like, 2, true)]);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = db.db_url().clone();
            // Each daemon has its session (a session has one committer); the room is shared.
            let ctx = session(&mut conn, "r");
            std::thread::spawn(move || {
                let mut conn = DbConn::establish(&url).unwrap();
                for b in 0..30 {
                    let evs: Vec<_> = (0..10)
                        .map(|i| event(EventType::Like, Some(b * 10 + i)))
                        .collect();
                    dispatch(&mut conn, &ctx, &evs).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(queue(&mut conn, svc).len(), 300);
}

/// A second MariaDB connection holding the locks of `locking_read` in an open transaction.
fn holding(db: &TestDb, locking_read: &str) -> DbConn {
    use diesel::connection::SimpleConnection;
    let mut holder = db.conn();
    let DbConn::Mysql(h) = &mut holder else {
        unreachable!("MariaDB only")
    };
    h.batch_execute(&format!("START TRANSACTION; {locking_read};"))
        .unwrap();
    holder
}

/// Ends the [`holding`] connection's transaction, releasing its locks.
fn commit(holder: &mut DbConn) {
    use diesel::connection::SimpleConnection;
    if let DbConn::Mysql(h) = holder {
        h.batch_execute("COMMIT").unwrap();
    }
}

/// A lock-wait timeout (1205) while another transaction holds the service's dispatch lock (its
/// config rows, MariaDB) is
/// retried transparently: the batch goes in once the lock is released.
#[test]
fn lock_wait_timeouts_are_retried() {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = service(&mut conn, "s", 10, &[(EventType::Like, 2, true)]);
    let ctx = session(&mut conn, "r");
    let DbConn::Mysql(c) = &mut conn else {
        unreachable!()
    };
    c.batch_execute("SET SESSION innodb_lock_wait_timeout = 1")
        .unwrap();
    let mut holder = holding(
        &db,
        &format!("SELECT id FROM service_event_configs WHERE service_id = {svc} FOR UPDATE"),
    );
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        commit(&mut holder);
    });
    let started = std::time::Instant::now();
    let r = dispatch(&mut conn, &ctx, &[event(EventType::Like, Some(1))]).unwrap();
    release.join().unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it waited"
    );
    assert_eq!(r.services[&svc].enqueued, 1);
    assert_eq!(queue(&mut conn, svc).len(), 1);
}

/// The dispatch lock is on the rules, never on the services (MariaDB): a dispatch that reads
/// its services in the statement that locks their rules leaves the service rows free for
/// workers (their shared locks through the foreign keys). The dispatch is held
/// mid-transaction by a shared lock on its session row (its last write waits for it; the
/// foreign-key checks before do not) while another connection tries both kinds of row
/// without waiting.
#[test]
fn a_dispatch_locks_the_rules_but_not_the_services() {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = service(&mut conn, "s", 10, &[(EventType::Like, 2, true)]);
    let ctx = session(&mut conn, "r");
    let mut holder = holding(
        &db,
        &format!(
            "SELECT id FROM live_sessions WHERE id = {} LOCK IN SHARE MODE",
            ctx.session_id
        ),
    );
    let dispatcher = std::thread::spawn(move || {
        let r = dispatch(&mut conn, &ctx, &[event(EventType::Like, Some(1))]).unwrap();
        r.services[&svc].enqueued
    });
    let mut probe = db.conn();
    let DbConn::Mysql(p) = &mut probe else {
        unreachable!()
    };
    let try_lock = |p: &mut core_models::db::MysqlConnection, table: &str, mode: &str| {
        let column = if table == "services" {
            "id"
        } else {
            "service_id"
        };
        p.batch_execute(&format!(
            "START TRANSACTION; SELECT id FROM {table} WHERE {column} = {svc} {mode} NOWAIT;"
        ))
        .and_then(|()| p.batch_execute("ROLLBACK"))
        .inspect_err(|_| {
            let _ = p.batch_execute("ROLLBACK");
        })
    };
    // Until the dispatch holds its rules, taking them succeeds; wait for it to fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while try_lock(p, "service_event_configs", "FOR UPDATE").is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dispatch never took its rules"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What a worker's claim or completion takes on the service row (a shared lock, through
    // the queue's foreign key) is free: the dispatch holds no exclusive lock there.
    try_lock(p, "services", "LOCK IN SHARE MODE")
        .expect("the service row is not locked by the dispatch");
    commit(&mut holder);
    assert_eq!(dispatcher.join().unwrap(), 1);
}

/// A victim claimed by a worker between the batch's read and its discard (MariaDB): the
/// batch notices (the discard re-checks `pending`), is retried, and decides again on the
/// queue as it now is.
#[test]
fn a_victim_claimed_meanwhile_is_not_discarded() {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = service(
        &mut conn,
        "s",
        2,
        &[(EventType::Like, 2, true), (EventType::Gift, 10, false)],
    );
    let ctx = session(&mut conn, "r");
    dispatch(
        &mut conn,
        &ctx,
        &[
            event(EventType::Like, Some(1)),
            event(EventType::Like, Some(2)),
        ],
    )
    .unwrap();
    let first = queue(&mut conn, svc)[0].id;
    // A worker's claim of the oldest like, not committed yet.
    let mut worker = db.conn();
    let DbConn::Mysql(w) = &mut worker else {
        unreachable!()
    };
    w.batch_execute(&format!(
        "START TRANSACTION; UPDATE event_queue SET status = 'processing', locked_by = 'w', \
         attempts = 1 WHERE id = {first};"
    ))
    .unwrap();
    let commit = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        if let DbConn::Mysql(w) = &mut worker {
            w.batch_execute("COMMIT").unwrap();
        }
    });
    let r = dispatch(&mut conn, &ctx, &[event(EventType::Gift, Some(3))]).unwrap();
    commit.join().unwrap();
    let sr = &r.services[&svc];
    // Retried after the claim: one like pending, so there was room (rule 1), no victim.
    assert_eq!((sr.enqueued, sr.discarded_victim, sr.overflow), (1, 0, 0));
    assert_eq!(
        statuses(&mut conn, svc),
        vec![
            (2, QueueStatus::Processing),
            (2, QueueStatus::Pending),
            (10, QueueStatus::Pending)
        ]
    );
}

/// An event's row is dated from the receipt of its frame when the capture knows it (so queue
/// lag counts from there), from the commit otherwise.
#[test]
fn created_at_is_the_receipt_time_when_known() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let ctx = session(&mut conn, "receipt");
        let received = Utc.timestamp_opt(1_790_000_100, 654_321_987).unwrap();
        let mut known = event(EventType::Comment, Some(1));
        known.received_at = Some(received);
        let unknown = event(EventType::Comment, Some(2));
        let before = core_models::models::now();
        dispatch(&mut conn, &ctx, &[known, unknown]).unwrap();
        let rows: Vec<(Option<i64>, chrono::NaiveDateTime)> = with_conn!(&mut conn, |c| le::table
            .filter(le::room_id.eq("receipt"))
            .order(le::msg_id.asc())
            .select((le::msg_id, le::created_at))
            .load(c))
        .unwrap();
        assert_eq!(
            rows[0],
            (
                Some(1),
                chrono::NaiveDate::from_ymd_opt(2026, 9, 21)
                    .unwrap()
                    .and_hms_micro_opt(14, 15, 0, 654_321)
                    .unwrap()
            ),
            "{:?}",
            db.backend()
        );
        assert!(rows[1].1 >= before, "{rows:?}");
    }
}

/// A batch committed twice (unknown outcome, or a spool replayed after kill -9) is stored
/// once, synthesised streak ends (no msg_id) included, and counted once in the session.
#[test]
fn committing_a_batch_twice_stores_it_once() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let session = sessions::start(&mut conn, None, "7", "streamer").expect("session");
        let end = Streak {
            id: "42-1".into(),
            status: StreakStatus::End,
        };
        let mut synthetic_end = event(EventType::Gift, None);
        synthetic_end.streak = Some(end);
        let batch = Batch {
            session: SessionRef::of(&session),
            events: vec![event(EventType::Comment, Some(1001)), synthetic_end],
        };
        let first = Engine::new(&mut conn)
            .dispatch(&batch)
            .expect("first commit");
        assert_eq!(first.stored, 2);
        let again = Engine::new(&mut conn)
            .dispatch(&batch)
            .expect("second commit");
        assert_eq!(again.stored, 0, "{:?}", db.backend());
        let rows: i64 = with_conn!(&mut conn, |c| le::table.count().get_result(c)).expect("count");
        assert_eq!(rows, 2);
        let total = sessions::get(&mut conn, session.id)
            .expect("get")
            .total_events;
        assert_eq!(total, 2, "total_events counts what was stored");
    }
}

/// A CommentDeletedEvent discards the pending items of the comments it names (by msg_id in
/// the room, and every comment of the users it names in the session), with reason `deleted`,
/// also when the comment came in the same batch; an item already claimed is left alone, and
/// the deletion itself goes to the services that subscribe to it.
#[test]
fn deleted_comments_leave_the_queues() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let ctx = session(&mut conn, "deleting");
        let chat = service(
            &mut conn,
            "chat",
            100,
            &[
                (EventType::Comment, 5, true),
                (EventType::Gift, 9, false),
                (EventType::CommentDeleted, 8, false),
            ],
        );
        let by = |msg_id: i64, user: &str| {
            let mut e = event(EventType::Comment, Some(msg_id));
            e.user_id = Some(user.into());
            e
        };
        dispatch(
            &mut conn,
            &ctx,
            &[
                by(1, "7"),
                by(2, "7"),
                by(3, "8"),
                by(4, "9"),
                event(EventType::Gift, Some(5)),
            ],
        )
        .unwrap();
        // Comment 2 is already with a worker.
        let comment_2: i64 = with_conn!(&mut conn, |c| le::table
            .filter(le::msg_id.eq(Some(2)))
            .select(le::id)
            .first(c))
        .unwrap();
        with_conn!(&mut conn, |c| diesel::update(
            eq::table.filter(eq::live_event_id.eq(comment_2))
        )
        .set(eq::status.eq(QueueStatus::Processing))
        .execute(c))
        .unwrap();
        let mut deletion = event(EventType::CommentDeleted, Some(10));
        deletion.data =
            serde_json::json!({"deleted_msg_ids": [1, 2, 6], "deleted_user_ids": ["9"]});
        let report = dispatch(&mut conn, &ctx, &[by(6, "10"), deletion]).unwrap();
        assert_eq!(report.deleted, 3, "1, 4 (user 9) and 6; 2 is claimed");
        let items = queue(&mut conn, chat);
        let by_event: BTreeMap<i64, (QueueStatus, Option<String>)> = items
            .iter()
            .map(|q| (q.live_event_id, (q.status, q.reason.map(|r| r.to_string()))))
            .collect();
        let msg_of: BTreeMap<i64, i64> = with_conn!(&mut conn, |c| le::table
            .select((le::id, le::msg_id))
            .load::<(i64, Option<i64>)>(c))
        .unwrap()
        .into_iter()
        .filter_map(|(id, m)| Some((id, m?)))
        .collect();
        let status_of = |msg: i64| {
            let id = msg_of
                .iter()
                .find(|(_, m)| **m == msg)
                .map(|(id, _)| *id)
                .unwrap();
            by_event[&id].clone()
        };
        let deleted = (QueueStatus::Discarded, Some("deleted".to_owned()));
        assert_eq!(status_of(1), deleted, "{:?}", db.backend());
        assert_eq!(status_of(4), deleted);
        assert_eq!(status_of(6), deleted, "deleted in its own batch");
        assert_eq!(status_of(2).0, QueueStatus::Processing);
        assert_eq!(status_of(3), (QueueStatus::Pending, None));
        assert_eq!(status_of(5), (QueueStatus::Pending, None), "gifts stay");
        assert_eq!(
            status_of(10),
            (QueueStatus::Pending, None),
            "the deletion is routed"
        );
        assert!(items
            .iter()
            .filter(|q| q.reason.is_some())
            .all(|q| q.processed_at.is_some()));
    }
}

#[test]
fn scoped_services_get_only_their_streamers_events() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let gift = [(EventType::Gift, 5, false)];
        let everyone = service(&mut conn, "everyone", 1000, &gift);
        let alices = service(&mut conn, "alices", 1000, &gift);
        let alice_and_bob = service(&mut conn, "alice_and_bob", 1000, &gift);
        let scope = |conn: &mut DbConn, slug: &str, handles: &[&str]| {
            services::update(
                conn,
                slug,
                &services::ServiceChanges {
                    streamers: Some(handles.iter().map(|h| h.parse().unwrap()).collect()),
                    ..Default::default()
                },
            )
            .unwrap();
        };
        scope(&mut conn, "alices", &["@Alice"]);
        scope(&mut conn, "alice_and_bob", &["alice", "bob"]);
        let live = |conn: &mut DbConn, streamer: &str, room: &str| {
            SessionRef::of(&sessions::start(conn, None, room, streamer).unwrap())
        };
        let (alice, bob, carol) = (
            live(&mut conn, "alice", "1"),
            live(&mut conn, "bob", "2"),
            live(&mut conn, "carol", "3"),
        );
        dispatch(&mut conn, &alice, &[event(EventType::Gift, Some(1))]).unwrap();
        dispatch(&mut conn, &bob, &[event(EventType::Gift, Some(2))]).unwrap();
        dispatch(&mut conn, &carol, &[event(EventType::Gift, Some(3))]).unwrap();
        let sessions_of = |conn: &mut DbConn, id: i64| -> Vec<i64> {
            queue(conn, id).iter().map(|i| i.session_id).collect()
        };
        assert_eq!(
            sessions_of(&mut conn, everyone),
            vec![alice.session_id, bob.session_id, carol.session_id]
        );
        assert_eq!(sessions_of(&mut conn, alices), vec![alice.session_id]);
        assert_eq!(
            sessions_of(&mut conn, alice_and_bob),
            vec![alice.session_id, bob.session_id]
        );
        // Back to every streamer: carol's next gift reaches it.
        scope(&mut conn, "alices", &[]);
        dispatch(&mut conn, &carol, &[event(EventType::Gift, Some(4))]).unwrap();
        assert_eq!(
            sessions_of(&mut conn, alices),
            vec![alice.session_id, carol.session_id]
        );
    }
}
