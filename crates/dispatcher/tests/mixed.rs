//! Dispatchers, claimers and a rescuer running at once on one service, on both backends:
//! every item is processed at most once, no gift is lost, and the queue drains.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{claim, complete, dispatch, event, queue, service, session};
use core_models::schema::{event_queue as eq, live_events as le};
use core_models::{with_conn, DbConn, EventType, QueueStatus};
use diesel::prelude::*;
use dispatcher::{Engine, RescueParams};
use test_support::TestDb;

#[test]
fn dispatchers_claimers_and_rescuer_together() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(
            &mut conn,
            "mixed",
            30,
            &[
                (EventType::Like, 2, true, true),
                (EventType::Comment, 5, true, true),
                (EventType::Gift, 10, false, true),
            ],
        );
        let done = Arc::new(AtomicBool::new(false));

        let dispatchers: Vec<_> = (0..3i64)
            .map(|t| {
                // A capture daemon each, so a session each (a session has one committer).
                let (url, ctx) = (db.db_url().clone(), session(&mut conn, "mixed"));
                std::thread::spawn(move || {
                    let mut conn = DbConn::establish(&url).unwrap();
                    for b in 0..25i64 {
                        let evs: Vec<_> = (0..16i64)
                            .map(|i| {
                                let ty = match (t + b + i) % 8 {
                                    0 => EventType::Gift,
                                    1 | 2 => EventType::Comment,
                                    _ => EventType::Like,
                                };
                                event(ty, Some(t * 100_000 + b * 100 + i))
                            })
                            .collect();
                        dispatch(&mut conn, &ctx, &evs).unwrap();
                    }
                })
            })
            .collect();
        let claimers: Vec<_> = (0..4)
            .map(|t| {
                let (url, done) = (db.db_url().clone(), done.clone());
                std::thread::spawn(move || {
                    let mut conn = DbConn::establish(&url).unwrap();
                    let owner = format!("worker-{t}");
                    let mut mine = Vec::new();
                    loop {
                        let finished = done.load(Ordering::SeqCst);
                        let got =
                            claim(&mut conn, svc, 5, &owner, Duration::from_secs(3600)).unwrap();
                        if got.is_empty() {
                            if finished {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        for c in got {
                            assert!(complete(&mut conn, c.item.id, &owner).unwrap());
                            mine.push(c.item.id);
                        }
                    }
                    mine
                })
            })
            .collect();
        let rescuer = {
            let (url, done) = (db.db_url().clone(), done.clone());
            std::thread::spawn(move || {
                let mut conn = DbConn::establish(&url).unwrap();
                while !done.load(Ordering::SeqCst) {
                    let r = Engine::new(&mut conn)
                        .rescue_expired(RescueParams {
                            service_id: Some(svc),
                            max_attempts: 5,
                        })
                        .unwrap();
                    assert_eq!(
                        r,
                        dispatcher::RescueReport::default(),
                        "no lease expires here"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        for d in dispatchers {
            d.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        rescuer.join().unwrap();
        let mut processed = Vec::new();
        for c in claimers {
            processed.extend(c.join().unwrap());
        }

        let unique: HashSet<i64> = processed.iter().copied().collect();
        assert_eq!(
            unique.len(),
            processed.len(),
            "{:?}: an item was processed twice",
            db.backend()
        );
        let rows = queue(&mut conn, svc);
        assert_eq!(rows.len(), 3 * 25 * 16, "{:?}", db.backend());
        for r in &rows {
            match r.status {
                QueueStatus::Completed => {
                    assert!(unique.contains(&r.id));
                    assert_eq!(r.attempts, 1);
                }
                QueueStatus::Discarded => assert!(r.is_discardable && !unique.contains(&r.id)),
                other => panic!("{:?}: row {} left {other}", db.backend(), r.id),
            }
        }
        let gifts: Vec<QueueStatus> = with_conn!(&mut conn, |c| eq::table
            .inner_join(le::table)
            .filter(le::event_type.eq(EventType::Gift))
            .select(eq::status)
            .load(c))
        .unwrap();
        assert_eq!(gifts.len(), 3 * 25 * 2);
        assert!(gifts.iter().all(|s| *s == QueueStatus::Completed));
        println!(
            "{:?}: {} processed, {} discarded",
            db.backend(),
            unique.len(),
            rows.len() - unique.len()
        );
    }
}
