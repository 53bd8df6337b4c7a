//! What a frame and a claim cost in statements on MySQL/MariaDB, counted by the server (the
//! session's `Com_*` status): the round trips that make the latency of a live stream. Runs
//! only with `TEST_MYSQL_URL`; prints the counts (`--nocapture`) and holds the line on them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use core_models::{seed, sessions, CapturedEvent, DbConn, EventType};
use diesel::prelude::*;
use diesel::sql_types::Text;
use dispatcher::{Batch, BatchGroup, ClaimParams, Engine, Outcome, RuleCache, SessionRef};
use test_support::TestDb;

/// The counters read, as `SHOW SESSION STATUS` names them.
const COUNTERS: [&str; 6] = [
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Com_stmt_close",
    "Com_begin",
    "Com_commit",
    "Questions",
];

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Variable_name")]
    name: String,
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// The session's counters now.
fn counters(conn: &mut DbConn) -> BTreeMap<String, i64> {
    let DbConn::Mysql(c) = conn else {
        unreachable!("MySQL only")
    };
    let list = COUNTERS.map(|n| format!("'{n}'")).join(", ");
    let rows: Vec<Status> = diesel::sql_query(format!(
        "SHOW SESSION STATUS WHERE Variable_name IN ({list})"
    ))
    .load(c)
    .expect("session status");
    rows.into_iter()
        .map(|r| (r.name, r.value.parse().expect("a number")))
        .collect()
}

/// What running `f` cost, per call of `calls`, less what reading the counters costs.
fn per_call(
    conn: &mut DbConn,
    calls: usize,
    mut f: impl FnMut(&mut DbConn),
) -> BTreeMap<String, f64> {
    let a = counters(conn);
    let b = counters(conn);
    for _ in 0..calls {
        f(conn);
    }
    let c = counters(conn);
    COUNTERS
        .iter()
        .map(|&n| {
            let reading = b[n] - a[n];
            let spent = c[n] - b[n] - reading;
            (n.to_owned(), spent as f64 / calls as f64)
        })
        .collect()
}

fn frame(first_msg_id: i64) -> Vec<CapturedEvent> {
    let types = [
        EventType::Like,
        EventType::Comment,
        EventType::Like,
        EventType::Gift,
        EventType::Like,
        EventType::Comment,
        EventType::Like,
        EventType::Follow,
        EventType::Like,
        EventType::Share,
    ];
    types
        .iter()
        .zip(first_msg_id..)
        .map(|(&event_type, msg_id)| CapturedEvent {
            event_type,
            msg_id: Some(msg_id),
            timestamp: Utc::now(),
            user_id: Some(format!("{}", msg_id % 7)),
            user_unique_id: Some("fan".into()),
            user_nickname: Some("Fan".into()),
            streak: None,
            data: serde_json::json!({"user": {"unique_id": "fan", "nickname": "Fan"}}),
            received_at: None,
        })
        .collect()
}

/// Round trips once every statement is prepared: executes, BEGIN and COMMIT (a prepare is one
/// more; a close is sent without waiting).
fn round_trips(cost: &BTreeMap<String, f64>) -> f64 {
    cost["Com_stmt_execute"] + cost["Com_begin"] + cost["Com_commit"]
}

#[test]
fn a_frame_and_a_claim_take_few_round_trips_on_mysql() {
    let Some(db) = TestDb::mysql() else {
        eprintln!("TEST_MYSQL_URL not set: skipped");
        return;
    };
    let mut conn = db.conn();
    conn.run_migrations().expect("migrations");
    seed::populate_initial_data(&mut conn).expect("seed");
    {
        // Room for every event: the overflow policy's extra reads are not what is counted.
        use core_models::schema::services as sv;
        let DbConn::Mysql(c) = &mut conn else {
            unreachable!("MySQL only")
        };
        diesel::update(sv::table)
            .set(sv::max_queue_size.eq(100_000))
            .execute(c)
            .expect("raise the limits");
    }
    // As the capture daemon dispatches: with the rules kept in memory.
    let rules = RuleCache::new(Duration::from_secs(3600));
    let session = SessionRef::of(&sessions::start(&mut conn, Some("t"), "room", "me").unwrap());
    let batch = |first: i64| Batch {
        session: session.clone(),
        events: frame(first),
    };

    // Warm-up: the first frame prepares what later frames reuse.
    Engine::new(&mut conn)
        .dispatch_cached(&BatchGroup::from(&batch(0)), &rules)
        .expect("dispatch");
    let frames = 50;
    let mut next = 1_000;
    let dispatch = per_call(&mut conn, frames, |conn| {
        Engine::new(conn)
            .dispatch_cached(&BatchGroup::from(&batch(next)), &rules)
            .expect("dispatch");
        next += 1_000;
    });
    eprintln!("per frame of 10 events: {dispatch:?}");

    let service_id: i64 = {
        use core_models::schema::services as sv;
        let DbConn::Mysql(c) = &mut conn else {
            unreachable!()
        };
        sv::table
            .order(sv::id.asc())
            .select(sv::id)
            .first(c)
            .expect("a seeded service")
    };
    let lease = Duration::from_secs(60);
    assert!(Engine::new(&mut conn)
        .acquire_service(service_id, "w", lease)
        .expect("lease"));
    let mut finished: Vec<(i64, Outcome)> = Vec::new();
    let mut claim = |conn: &mut DbConn| {
        let claimed = Engine::new(conn)
            .claim(&ClaimParams {
                service_id,
                max: 5,
                service_owner: "w",
                owner: "w",
                lease,
                finished: &finished,
            })
            .expect("claim");
        finished = claimed
            .items
            .unwrap_or_default()
            .iter()
            .map(|c| (c.item.id, Outcome::Completed))
            .collect();
        assert_eq!(finished.len(), 5, "enough pending items to claim");
    };
    // Warm-up: a claim with nothing finished, then one with finished items.
    claim(&mut conn);
    claim(&mut conn);
    let claims = per_call(&mut conn, 20, &mut claim);
    eprintln!("per claim of 5 (finishing the 5 before): {claims:?}");

    // The line held: statements reuse their prepared form (a new shape, e.g. a longer id
    // list, is prepared once), and a frame costs at most seven round trips (BEGIN, the
    // insert that skips stored messages, config locks with the services, pending counts,
    // queue insert, session total, COMMIT), a claim at most six (BEGIN, lease and
    // claim read, completions, claim update, items with their events and rule actions, COMMIT).
    assert!(dispatch["Com_stmt_prepare"] < 0.5, "{dispatch:?}");
    assert!(round_trips(&dispatch) <= 7.0, "{dispatch:?}");
    assert!(claims["Com_stmt_prepare"] < 0.5, "{claims:?}");
    assert!(round_trips(&claims) <= 6.0, "{claims:?}");
}
