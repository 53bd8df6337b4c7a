//! The claim side on both backends: order, leases, ownership checks, rescue, service leases,
//! retention, and (MariaDB) the claim's query plan and 8 concurrent claimers.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    claim, claim_if_owner, complete, dispatch, event, fail, queue, release, renew, service, session,
};
use core_models::schema::event_queue as eq;
use core_models::{with_conn, DbConn, EventType, QueueStatus};
use diesel::prelude::*;
use dispatcher::{Engine, EngineError, PruneParams, RescueParams};
use test_support::TestDb;

const HOUR: Duration = Duration::from_secs(3600);

/// A service with Like 2 / Comment 5 / Gift 10 and `n` events dispatched (types cycling).
fn filled(conn: &mut DbConn, n: i64) -> i64 {
    let svc = service(
        conn,
        "s",
        100_000,
        &[
            (EventType::Like, 2, true, true),
            (EventType::Comment, 5, true, true),
            (EventType::Gift, 10, false, true),
        ],
    );
    let ctx = session(conn, "r");
    let types = [EventType::Like, EventType::Comment, EventType::Gift];
    let evs: Vec<_> = (0..n)
        .map(|i| event(types[(i % 3) as usize], Some(i)))
        .collect();
    for chunk in evs.chunks(500) {
        dispatch(conn, &ctx, chunk).unwrap();
    }
    svc
}

#[test]
fn claims_by_priority_then_age_with_a_lease() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 7); // L C G L C G L
        let all = queue(&mut conn, svc);
        let got = claim(&mut conn, svc, 4, "w1", HOUR).unwrap();
        let ids: Vec<i64> = got.iter().map(|c| c.item.id).collect();
        assert_eq!(ids, vec![all[2].id, all[5].id, all[1].id, all[4].id]);
        for c in &got {
            assert_eq!(c.item.status, QueueStatus::Processing);
            assert_eq!(c.item.locked_by.as_deref(), Some("w1"));
            assert!(c.item.locked_until.unwrap() > core_models::models::now());
            assert_eq!(c.item.attempts, 1);
            assert_eq!(c.event.id, c.item.live_event_id);
        }
        let rest = claim(&mut conn, svc, 10, "w2", HOUR).unwrap();
        assert_eq!(rest.len(), 3);
        assert!(claim(&mut conn, svc, 10, "w2", HOUR).unwrap().is_empty());
        assert!(claim(&mut conn, svc, 0, "w2", HOUR).unwrap().is_empty());
        assert!(matches!(
            claim(&mut conn, svc, 1, "", HOUR),
            Err(EngineError::InvalidOwner(_))
        ));
    }
}

/// A claimed item carries the action of the rule it went under, read with the item: `boost`
/// for the comment rule that has it, none for the rules without one.
#[test]
fn claimed_items_carry_their_rules_action() {
    use core_models::rules::{self, Basics, NewRule};
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = service(
            &mut conn,
            "s",
            100,
            &[
                (EventType::Like, 2, true, true),
                (EventType::Comment, 5, true, true),
            ],
        );
        let boost = NewRule {
            name: "boost".into(),
            event_type: Some(EventType::Comment),
            basics: Basics {
                priority: Some(core_models::Priority::new(9).unwrap()),
                ..Basics::default()
            },
            action: Some("boost".into()),
            ..NewRule::default()
        };
        rules::add(&mut conn, "s", &boost).unwrap();
        let ctx = session(&mut conn, "r");
        let events = [
            event(EventType::Comment, Some(1)),
            event(EventType::Like, Some(2)),
        ];
        dispatch(&mut conn, &ctx, &events).unwrap();
        let got = claim(&mut conn, svc, 10, "w1", HOUR).unwrap();
        let actions: Vec<(Option<&str>, Option<&str>)> = got
            .iter()
            .map(|c| (c.item.rule_name.as_deref(), c.action.as_deref()))
            .collect();
        assert_eq!(
            actions,
            [(Some("boost"), Some("boost")), (Some("LikeEvent"), None)]
        );
    }
}

#[test]
fn only_the_holder_completes_fails_releases_or_renews() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 4);
        let got = claim(&mut conn, svc, 4, "w1", HOUR).unwrap();
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| got[i].item.id);

        assert!(!complete(&mut conn, a, "w2").unwrap());
        assert!(complete(&mut conn, a, "w1").unwrap());
        assert!(!complete(&mut conn, a, "w1").unwrap(), "only once");

        assert!(!fail(&mut conn, b, "w2", "x").unwrap());
        assert!(fail(&mut conn, b, "w1", "boom\0 💥").unwrap());

        assert!(!renew(&mut conn, c, "w2", HOUR).unwrap());
        assert!(renew(&mut conn, c, "w1", HOUR * 2).unwrap());

        assert!(!release(&mut conn, d, "w2").unwrap());
        assert!(release(&mut conn, d, "w1").unwrap());
        assert!(!renew(&mut conn, d, "w1", HOUR).unwrap(), "released");

        let rows = queue(&mut conn, svc);
        let by_id = |id: i64| rows.iter().find(|r| r.id == id).unwrap().clone();
        let ra = by_id(a);
        assert_eq!(ra.status, QueueStatus::Completed);
        assert!(ra.processed_at.is_some() && ra.locked_until.is_none());
        let rb = by_id(b);
        assert_eq!(rb.status, QueueStatus::Failed);
        assert_eq!(rb.last_error.as_deref(), Some("boom 💥"));
        let rc = by_id(c);
        assert!(
            rc.locked_until.unwrap() > core_models::models::now() + chrono::TimeDelta::minutes(90)
        );
        let rd = by_id(d);
        assert_eq!(
            (rd.status, rd.attempts, rd.locked_by.clone()),
            (QueueStatus::Pending, 0, None),
            "a release does not count the attempt"
        );
        assert_eq!(
            Engine::new(&mut conn).release_items("w1", &[c, d]).unwrap(),
            1
        );
    }
}

#[test]
fn expired_leases_are_rescued_then_failed_after_max_attempts() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 2);
        let other = service(&mut conn, "other", 10, &[(EventType::Like, 2, true, true)]);
        let ctx2 = session(&mut conn, "r2");
        dispatch(&mut conn, &ctx2, &[event(EventType::Like, Some(1))]).unwrap();

        // A live lease is not touched.
        let long = claim(&mut conn, svc, 1, "alive", HOUR).unwrap();
        for attempt in 1..=3 {
            let got = claim(&mut conn, svc, 1, "dies", Duration::ZERO).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].item.attempts, attempt);
            let r = Engine::new(&mut conn)
                .rescue_expired(RescueParams {
                    service_id: Some(svc),
                    max_attempts: 3,
                })
                .unwrap();
            let expect = if attempt < 3 { (1, 0) } else { (0, 1) };
            assert_eq!((r.requeued, r.failed), expect, "attempt {attempt}");
        }
        let rows = queue(&mut conn, svc);
        let dead = rows
            .iter()
            .find(|r| r.status == QueueStatus::Failed)
            .unwrap();
        assert!(dead
            .last_error
            .as_deref()
            .unwrap()
            .contains("lease expired"));
        assert_eq!(dead.attempts, 3);
        assert!(rows
            .iter()
            .any(|r| r.id == long[0].item.id && r.status == QueueStatus::Processing));
        // A dead worker's own completion after the rescue is refused.
        assert!(!complete(&mut conn, dead.id, "dies").unwrap());

        // Scoped rescue leaves other services alone; an unscoped one takes them.
        claim(&mut conn, other, 1, "dies", Duration::ZERO).unwrap();
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
        assert_eq!(
            Engine::new(&mut conn)
                .rescue_expired(RescueParams {
                    service_id: None,
                    max_attempts: 5
                })
                .unwrap()
                .requeued,
            1
        );
    }
}

#[test]
fn one_owner_per_service_and_takeover_after_expiry() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 1);
        assert_eq!(Engine::new(&mut conn).service_owner(svc).unwrap(), None);
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "a", HOUR)
            .unwrap());
        assert!(!Engine::new(&mut conn)
            .acquire_service(svc, "b", HOUR)
            .unwrap());
        assert!(
            Engine::new(&mut conn)
                .acquire_service(svc, "a", HOUR)
                .unwrap(),
            "re-acquire renews"
        );
        // Renewal is acquisition by the holder; nobody else renews.
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "a", HOUR)
            .unwrap());
        assert!(!Engine::new(&mut conn)
            .acquire_service(svc, "b", HOUR)
            .unwrap());
        assert_eq!(
            Engine::new(&mut conn)
                .service_owner(svc)
                .unwrap()
                .unwrap()
                .owner,
            "a"
        );
        assert!(!Engine::new(&mut conn).release_service(svc, "b").unwrap());
        assert!(Engine::new(&mut conn).release_service(svc, "a").unwrap());
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "b", Duration::ZERO)
            .unwrap());
        // b's lease has run out: no owner, b works the service no more, and a takes over.
        assert_eq!(Engine::new(&mut conn).service_owner(svc).unwrap(), None);
        assert_eq!(
            claim_if_owner(&mut conn, svc, 1, "b", "b/1", HOUR).unwrap(),
            None
        );
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "a", HOUR)
            .unwrap());
        assert!(!Engine::new(&mut conn)
            .acquire_service(svc, "b", HOUR)
            .unwrap());
    }
}

#[test]
fn concurrent_acquirers_get_one_owner() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 1);
        for round in 0..5 {
            let winners: usize = (0..6)
                .map(|i| {
                    let url = db.db_url().clone();
                    std::thread::spawn(move || {
                        let mut conn = DbConn::establish(&url).unwrap();
                        let ttl = if round % 2 == 0 { HOUR } else { Duration::ZERO };
                        Engine::new(&mut conn)
                            .acquire_service(svc, &format!("d{round}-{i}"), ttl)
                            .unwrap()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| usize::from(t.join().unwrap()))
                .sum();
            if round % 2 == 0 {
                assert_eq!(winners, 1, "round {round}");
                // Let the next round start from an expired lease.
                let owner = Engine::new(&mut conn)
                    .service_owner(svc)
                    .unwrap()
                    .unwrap()
                    .owner;
                assert!(Engine::new(&mut conn).release_service(svc, &owner).unwrap());
                assert!(Engine::new(&mut conn)
                    .acquire_service(svc, "x", Duration::ZERO)
                    .unwrap());
            } else {
                // Zero-TTL leases expire at once, so several may take it in turn.
                assert!(winners >= 1, "round {round}");
            }
        }
    }
}

#[test]
fn prune_deletes_old_finished_rows_in_batches() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 30);
        let got = claim(&mut conn, svc, 12, "w", HOUR).unwrap();
        for c in &got[..10] {
            complete(&mut conn, c.item.id, "w").unwrap();
        }
        fail(&mut conn, got[10].item.id, "w", "x").unwrap();
        // Discard a few by hand (as the overflow policy would).
        let pending: Vec<i64> = queue(&mut conn, svc)
            .iter()
            .filter(|r| r.status == QueueStatus::Pending)
            .take(5)
            .map(|r| r.id)
            .collect();
        with_conn!(&mut conn, |c| diesel::update(
            eq::table.filter(eq::id.eq_any(&pending))
        )
        .set(eq::status.eq(QueueStatus::Discarded))
        .execute(c))
        .unwrap();
        assert_eq!(
            Engine::new(&mut conn)
                .prune(PruneParams {
                    older_than: HOUR,
                    batch_size: 3
                })
                .unwrap(),
            0,
            "nothing old yet"
        );
        // Age everything by two hours.
        let old = core_models::models::now() - chrono::TimeDelta::hours(2);
        with_conn!(&mut conn, |c| diesel::update(eq::table)
            .set(eq::updated_at.eq(old))
            .execute(c))
        .unwrap();
        assert_eq!(
            Engine::new(&mut conn)
                .prune(PruneParams {
                    older_than: HOUR,
                    batch_size: 3
                })
                .unwrap(),
            15
        );
        let left = queue(&mut conn, svc);
        assert_eq!(left.len(), 15);
        assert!(left.iter().all(|r| matches!(
            r.status,
            QueueStatus::Pending | QueueStatus::Processing | QueueStatus::Failed
        )));
    }
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "EXPLAIN")]
    plan: String,
}

/// The claim statement's binds, as the engine binds them, for the lease the test daemon holds.
macro_rules! bind_claim {
    ($query:expr, $service_id:expr, $limit:expr) => {{
        use diesel::sql_types::{BigInt, Text, Timestamp};
        let t = chrono::Utc::now().naive_utc();
        $query
            .bind::<BigInt, _>($service_id)
            .bind::<Text, _>(common::DAEMON)
            .bind::<Timestamp, _>(t)
            .bind::<BigInt, _>($service_id)
            .bind::<Text, _>(common::DAEMON)
            .bind::<Timestamp, _>(t)
            .bind::<BigInt, _>($service_id)
            .bind::<BigInt, _>($limit)
    }};
}

/// The claim's SELECT, as it runs, is served by idx_eq_claim in index order (the lease row a
/// constant): no filesort, no full scan (MariaDB's JSON plan).
#[test]
fn mariadb_claim_uses_the_claim_index_without_filesort() {
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = filled(&mut conn, 3000);
    let other = service(&mut conn, "o", 1000, &[(EventType::Like, 5, true, true)]);
    let ctx = session(&mut conn, "r9");
    let evs: Vec<_> = (0..500).map(|i| event(EventType::Like, Some(i))).collect();
    dispatch(&mut conn, &ctx, &evs).unwrap();
    claim(&mut conn, svc, 100, "w", HOUR).unwrap();
    claim(&mut conn, other, 0, "w", HOUR).unwrap();
    let DbConn::Mysql(c) = &mut conn else {
        unreachable!()
    };
    diesel::sql_query("ANALYZE TABLE event_queue")
        .execute(c)
        .unwrap();
    for (service_id, n) in [(svc, 10i64), (other, 1), (svc, 1000)] {
        let explain = format!("EXPLAIN FORMAT=JSON {}", dispatcher::MYSQL_CLAIM_SQL);
        let plans: Vec<Plan> = bind_claim!(diesel::sql_query(explain), service_id, n)
            .load(c)
            .unwrap();
        let plan = &plans[0].plan;
        let json: serde_json::Value = serde_json::from_str(plan).unwrap();
        let mut tables = Vec::new();
        tables_of(&json, &mut tables);
        // The lease row, read by primary key in each part, then the queue.
        let (leases, queue): (Vec<_>, Vec<_>) =
            tables.into_iter().partition(|t| t["table_name"] != "q");
        assert_eq!(leases.len(), 2, "{plan}");
        for lease in leases {
            assert_eq!(lease["access_type"], "const", "{plan}");
        }
        assert_eq!(queue.len(), 1, "{plan}");
        assert_eq!(queue[0]["key"], "idx_eq_claim", "{plan}");
        assert_ne!(queue[0]["access_type"], "ALL", "{plan}");
        assert_ne!(
            queue[0]["access_type"], "index",
            "a full index scan: {plan}"
        );
        assert!(!plan.contains("filesort"), "{plan}");
        assert!(!plan.to_lowercase().contains("temporary"), "{plan}");
    }
}

/// Every `"table"` object of a MariaDB JSON plan, wherever it is nested.
fn tables_of<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "table" {
                    out.push(x);
                }
                tables_of(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| tables_of(x, out)),
        _ => {}
    }
}

#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// The same on SQLite: the claim index, and no temporary B-tree for the ORDER BY.
#[test]
fn sqlite_claim_uses_the_claim_index_without_sorting() {
    let db = TestDb::sqlite();
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = filled(&mut conn, 300);
    let DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    diesel::sql_query("ANALYZE").execute(c).unwrap();
    let explain = format!("EXPLAIN QUERY PLAN {}", dispatcher::SQLITE_CLAIM_SQL);
    let plan: Vec<SqlitePlan> = bind_claim!(diesel::sql_query(explain), svc, 10i64)
        .load(c)
        .unwrap();
    let text: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
    assert!(text.iter().any(|d| d.contains("idx_eq_claim")), "{text:?}");
    assert!(!text.iter().any(|d| d.contains("TEMP B-TREE")), "{text:?}");
}

/// Eight claimers on one queue of 5,000 items (MariaDB): every item is claimed exactly once.
#[test]
fn eight_concurrent_claimers_take_each_item_once() {
    let Some(db) = TestDb::mysql() else {
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    let svc = filled(&mut conn, 5000);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let url = db.db_url().clone();
            std::thread::spawn(move || {
                let mut conn = DbConn::establish(&url).unwrap();
                let owner = format!("w{t}");
                let mut mine = Vec::new();
                loop {
                    let got = claim(&mut conn, svc, 10, &owner, HOUR).unwrap();
                    if got.is_empty() {
                        break;
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
    let mut all = Vec::new();
    let mut per_thread = Vec::new();
    for t in threads {
        let mine = t.join().unwrap();
        per_thread.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 5000, "per thread: {per_thread:?}");
    assert_eq!(unique.len(), 5000);
    let rows = queue(&mut conn, svc);
    assert!(rows
        .iter()
        .all(|r| r.status == QueueStatus::Completed && r.attempts == 1));
    println!("claims per thread: {per_thread:?}");
}

#[test]
fn claim_if_owner_claims_only_under_a_live_service_lease() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let svc = filled(&mut conn, 3);
        assert_eq!(
            claim_if_owner(&mut conn, svc, 1, "daemon-a", "a/1", HOUR).unwrap(),
            None,
            "no lease yet"
        );
        assert!(Engine::new(&mut conn)
            .acquire_service(svc, "daemon-a", HOUR)
            .unwrap());
        let got = claim_if_owner(&mut conn, svc, 2, "daemon-a", "a/1", HOUR)
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].item.locked_by.as_deref(), Some("a/1"));
        assert_eq!(
            claim_if_owner(&mut conn, svc, 2, "daemon-b", "b/1", HOUR).unwrap(),
            None,
            "not the owner"
        );
        assert!(Engine::new(&mut conn)
            .release_service(svc, "daemon-a")
            .unwrap());
        assert_eq!(
            claim_if_owner(&mut conn, svc, 2, "daemon-a", "a/1", HOUR).unwrap(),
            None,
            "lease given up"
        );
        assert_eq!(
            queue(&mut conn, svc)
                .iter()
                .filter(|r| r.status == QueueStatus::Pending)
                .count(),
            1
        );
    }
}
