//! Batched outcomes on both backends: `Engine::finish` and `Engine::claim` (with the finished
//! items) record what the owner holds, leave other workers' items alone, and keep the failure
//! and attempts rules of a single completion or failure.

mod common;

use std::time::Duration;

use common::{claim, dispatch, event, queue, release, service, session};
use core_models::{DbConn, EventType, QueueItem, QueueStatus};
use dispatcher::{ClaimParams, Claimed, Engine, EngineError, Outcome, RescueParams};
use test_support::TestDb;

const HOUR: Duration = Duration::from_secs(3600);

/// A service with `n` likes queued; returns its id.
fn filled(conn: &mut DbConn, n: i64) -> i64 {
    let svc = service(conn, "s", 100_000, &[(EventType::Like, 2, true, true)]);
    let ctx = session(conn, "r");
    let evs: Vec<_> = (0..n).map(|i| event(EventType::Like, Some(i))).collect();
    for chunk in evs.chunks(500) {
        dispatch(conn, &ctx, chunk).unwrap();
    }
    svc
}

/// [`Engine::claim`] with its parameters as arguments.
fn finish_and_claim(
    conn: &mut DbConn,
    finished: &[(i64, Outcome)],
    service_id: i64,
    max: usize,
    service_owner: &str,
    owner: &str,
    lease: Duration,
) -> Result<Claimed, EngineError> {
    Engine::new(conn).claim(&ClaimParams {
        service_id,
        max,
        service_owner,
        owner,
        lease,
        finished,
    })
}

fn row(conn: &mut DbConn, svc: i64, id: i64) -> QueueItem {
    queue(conn, svc).into_iter().find(|r| r.id == id).unwrap()
}

#[test]
fn finish_records_only_what_the_owner_holds() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 6);
        let mine: Vec<i64> = claim(&mut conn, svc, 4, "w1", HOUR)
            .unwrap()
            .iter()
            .map(|c| c.item.id)
            .collect();
        let theirs: Vec<i64> = claim(&mut conn, svc, 2, "w2", HOUR)
            .unwrap()
            .iter()
            .map(|c| c.item.id)
            .collect();
        let (a, b, c, d) = (mine[0], mine[1], mine[2], mine[3]);
        let (x, y) = (theirs[0], theirs[1]);

        let got = Engine::new(&mut conn)
            .finish(
                "w1",
                &[
                    (a, Outcome::Completed),
                    (x, Outcome::Completed),
                    (b, Outcome::Completed),
                    (c, Outcome::Failed("boom\0 💥".into())),
                    (y, Outcome::Failed("not mine".into())),
                ],
            )
            .unwrap();
        assert_eq!((got.completed, got.failed), (2, 1));
        let mut expect_not_held = vec![x, y];
        expect_not_held.sort_unstable();
        assert_eq!(got.not_held, expect_not_held);
        assert_eq!((got.completed + got.failed), 3);

        for id in [a, b] {
            let r = row(&mut conn, svc, id);
            assert_eq!(r.status, QueueStatus::Completed);
            assert!(r.processed_at.is_some() && r.locked_until.is_none());
            assert_eq!(r.attempts, 1, "finishing does not touch attempts");
        }
        let rc = row(&mut conn, svc, c);
        assert_eq!(rc.status, QueueStatus::Failed);
        assert_eq!(
            rc.last_error.as_deref(),
            Some("boom 💥"),
            "cleaned as fail() does"
        );
        assert_eq!(rc.attempts, 1);
        assert!(rc.processed_at.is_some() && rc.locked_until.is_none());
        for id in [x, y] {
            let r = row(&mut conn, svc, id);
            assert_eq!(r.status, QueueStatus::Processing, "another worker's item");
            assert_eq!(r.locked_by.as_deref(), Some("w2"));
            assert!(r.last_error.is_none());
        }
        assert_eq!(row(&mut conn, svc, d).status, QueueStatus::Processing);

        // Once recorded, an outcome is not recorded again.
        let again = Engine::new(&mut conn)
            .finish("w1", &[(a, Outcome::Completed)])
            .unwrap();
        assert_eq!((again.completed, again.not_held), (0, vec![a]));
        // A duplicate within one call counts once; nothing to do is no error.
        let dup = Engine::new(&mut conn)
            .finish("w1", &[(d, Outcome::Completed), (d, Outcome::Completed)])
            .unwrap();
        assert_eq!((dup.completed, dup.not_held.len()), (1, 0));
        assert_eq!(
            Engine::new(&mut conn).finish("w1", &[]).unwrap(),
            dispatcher::Finished::default()
        );
        assert!(matches!(
            Engine::new(&mut conn).finish("", &[(a, Outcome::Completed)]),
            Err(EngineError::InvalidOwner(_))
        ));
    }
}

#[test]
fn a_failed_item_keeps_the_attempts_rules() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 1);
        // Two claims that died (rescued), then a third that fails: attempts count the claims.
        for _ in 0..2 {
            claim(&mut conn, svc, 1, "dies", Duration::ZERO).unwrap();
            assert_eq!(
                Engine::new(&mut conn)
                    .rescue_expired(RescueParams {
                        service_id: Some(svc),
                        max_attempts: 5
                    })
                    .unwrap()
                    .requeued,
                1
            );
        }
        let id = claim(&mut conn, svc, 1, "w1", HOUR).unwrap()[0].item.id;
        let long = "e".repeat(9_000);
        let got = Engine::new(&mut conn)
            .finish("w1", &[(id, Outcome::Failed(long))])
            .unwrap();
        assert_eq!((got.completed, got.failed), (0, 1));
        let r = row(&mut conn, svc, id);
        assert_eq!((r.status, r.attempts), (QueueStatus::Failed, 3));
        assert_eq!(
            r.last_error.unwrap().chars().count(),
            8_000,
            "cut as fail() does"
        );
        // A failed item is final: the rescue leaves it alone.
        assert_eq!(
            Engine::new(&mut conn)
                .rescue_expired(RescueParams {
                    service_id: Some(svc),
                    max_attempts: 5
                })
                .unwrap()
                .requeued,
            0
        );
    }
}

#[test]
fn more_outcomes_than_one_in_list_are_all_recorded() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 1_200);
        let ids: Vec<i64> = claim(&mut conn, svc, 1_200, "w1", HOUR)
            .unwrap()
            .iter()
            .map(|c| c.item.id)
            .collect();
        assert_eq!(ids.len(), 1_200);
        // One of them taken over by another worker (rescued, claimed again).
        let stolen = ids[700];
        release(&mut conn, stolen, "w1").unwrap();
        let w2 = claim(&mut conn, svc, 1, "w2", HOUR).unwrap();
        assert_eq!(w2[0].item.id, stolen);

        let outcomes: Vec<(i64, Outcome)> =
            ids.iter().map(|&id| (id, Outcome::Completed)).collect();
        let got = Engine::new(&mut conn).finish("w1", &outcomes).unwrap();
        assert_eq!((got.completed, got.not_held), (1_199, vec![stolen]));
        let rows = queue(&mut conn, svc);
        assert_eq!(
            rows.iter()
                .filter(|r| r.status == QueueStatus::Completed)
                .count(),
            1_199
        );
    }
}

#[test]
fn finish_and_claim_records_then_claims_under_the_service_lease() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 5);
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "daemon-a", HOUR)
            .unwrap());

        // First round: nothing to record, claim two.
        let first = finish_and_claim(&mut conn, &[], svc, 2, "daemon-a", "a/1", HOUR).unwrap();
        assert_eq!(first.finished, dispatcher::Finished::default());
        let claimed = first.items.unwrap();
        assert_eq!(claimed.len(), 2);
        let (p, q) = (claimed[0].item.id, claimed[1].item.id);

        // Next round: these are done, two more.
        let second = finish_and_claim(
            &mut conn,
            &[(p, Outcome::Completed), (q, Outcome::Failed("nope".into()))],
            svc,
            2,
            "daemon-a",
            "a/1",
            HOUR,
        )
        .unwrap();
        assert_eq!((second.finished.completed, second.finished.failed), (1, 1));
        let next = second.items.unwrap();
        assert_eq!(next.len(), 2);
        assert!(next
            .iter()
            .all(|c| c.item.locked_by.as_deref() == Some("a/1")
                && c.item.status == QueueStatus::Processing));
        assert_eq!(row(&mut conn, svc, p).status, QueueStatus::Completed);
        assert_eq!(row(&mut conn, svc, q).status, QueueStatus::Failed);

        // The lease is lost (expired, taken over): the outcomes are still recorded, nothing
        // more is claimed.
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "daemon-a", Duration::ZERO)
            .unwrap());
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "daemon-b", HOUR)
            .unwrap());
        let r = next[0].item.id;
        let lost = finish_and_claim(
            &mut conn,
            &[(r, Outcome::Completed)],
            svc,
            2,
            "daemon-a",
            "a/1",
            HOUR,
        )
        .unwrap();
        assert_eq!(lost.finished.completed, 1);
        assert!(lost.items.is_none());
        assert_eq!(row(&mut conn, svc, r).status, QueueStatus::Completed);
        let pending = queue(&mut conn, svc)
            .iter()
            .filter(|i| i.status == QueueStatus::Pending)
            .count();
        assert_eq!(pending, 1, "the lost lease claimed nothing");

        // A zero-sized claim still records.
        let s = next[1].item.id;
        let zero = finish_and_claim(
            &mut conn,
            &[(s, Outcome::Completed)],
            svc,
            0,
            "daemon-b",
            "a/1",
            HOUR,
        )
        .unwrap();
        assert_eq!(zero.finished.completed, 1);
        assert_eq!(zero.items, Some(Vec::new()));
    }
}
