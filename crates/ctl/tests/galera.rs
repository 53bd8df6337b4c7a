//! The daemons and the queue engine on a 3-node MariaDB Galera cluster (issue 18, item 3),
//! started by `scripts/galera-cluster.sh` with HAProxy in front (see
//! [`test_support::galera`]). They run only with `TEST_GALERA=1` (`.ci/run` runs them in a
//! step of their own): `TEST_GALERA=1 cargo test -p ctl --test galera`.
//!
//! - A capture-daemon writes through HAProxy (node 1), two worker-daemons claim through
//!   nodes 2 and 3; node 1 is killed -9 mid-stream: nothing lost, nothing doubled, every
//!   gift's queue rows present, no SYNC overlap, nothing left `processing`.
//! - Claim order stays priority then age although every node hands out its own auto-increment
//!   ids (`auto_increment_increment = 3`): ids follow commit order across nodes.
//! - A certification conflict (the losing node's COMMIT fails with 1213) is retried.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use core_models::schema::{event_queue as eq, live_events as le, live_sessions as ls};
use core_models::{
    services, sessions, with_conn, CapturedEvent, DbConn, DbUrl, EventType, LiveEvent, LiveSession,
    QueueItem, QueueStatus, SessionStatus,
};
use diesel::prelude::*;
use dispatcher::{Batch, ClaimParams, Engine, SessionRef};
use test_support::galera::GaleraCluster;
use test_support::recorder::{max_overlap, recorder, spans};
use webcast_sim::{Scenario, Simulator, SimulatorConfig, Step};

const LONG: Duration = Duration::from_secs(120);

/// A binary of the workspace next to `ctl` (the CI step builds them first).
fn binary(name: &str) -> PathBuf {
    test_support::binaries::sibling(Path::new(env!("CARGO_BIN_EXE_ctl")), name)
        .unwrap_or_else(|| panic!("{name} is not built next to ctl: run `cargo build -p capture-daemon -p worker-daemon` first"))
}

fn connect(url: &str) -> DbConn {
    DbConn::establish(&DbUrl::resolve(Some(url)).expect("url")).expect("connect")
}

fn ctl(url: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ctl"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run ctl");
    assert!(
        out.status.success(),
        "ctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A daemon process with its output in a file; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(program: &Path, args: &[String], url: &str, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .env("DATABASE_URL", url)
            .env("WORKER_LOG", "info")
            .env_remove("WEBCAST_SIGN_API_KEY")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    fn output(&self) -> String {
        log_of(&self.log)
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A daemon's log file, headed by its name.
fn log_of(path: &Path) -> String {
    format!(
        "--- {}\n{}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default()
    )
}

fn wait(what: &str, mut cond: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out: {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn all_events(conn: &mut DbConn) -> Vec<LiveEvent> {
    with_conn!(conn, |c| le::table
        .order(le::id.asc())
        .select(LiveEvent::as_select())
        .load(c))
    .expect("events")
}

fn all_items(conn: &mut DbConn) -> Vec<QueueItem> {
    with_conn!(conn, |c| eq::table
        .order(eq::id.asc())
        .select(QueueItem::as_select())
        .load(c))
    .expect("queue")
}

/// The capture writes through HAProxy (node 1), the workers claim through nodes 2 and 3, and
/// node 1 dies with SIGKILL while the LIVE goes on.
#[test]
fn killing_the_capture_node_mid_stream_loses_and_doubles_nothing() {
    let Some(cluster) = GaleraCluster::start() else {
        return;
    };
    let db = cluster.create_database("tl_galera_kill");
    let proxy = cluster.proxy_url(&db);
    let (node2, node3) = (cluster.node_url(2, &db), cluster.node_url(3, &db));
    ctl(&proxy, &["migrate"]);
    let dir = tempfile::tempdir().expect("scratch dir");

    let node1_offset: i64 = with_conn!(&mut connect(&cluster.node_url(1, &db)), |c| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "@@auto_increment_offset",
        ))
        .get_result(c)
    })
    .expect("node 1's auto_increment_offset");

    // Two SYNC services: each job is recorded, so an overlap would show.
    let logs = [dir.path().join("a.log"), dir.path().join("b.log")];
    for (slug, log, events) in [
        (
            "rec_a",
            &logs[0],
            &["GiftEvent:8:sync:keep", "CommentEvent:3:sync:keep"][..],
        ),
        ("rec_b", &logs[1], &["GiftEvent:8:sync:keep"][..]),
    ] {
        let command = recorder(dir.path(), log, 0.005, false);
        let mut args = vec![
            "service".to_owned(),
            "add".into(),
            "--name".into(),
            slug.to_uppercase(),
            "--slug".into(),
            slug.into(),
            "--class".into(),
            "exec".into(),
            "--setting".into(),
            format!("command={command}"),
        ];
        for e in events {
            args.extend(["--event".to_owned(), (*e).to_owned()]);
        }
        ctl(&proxy, &args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    let worker_args: Vec<String> = [
        "--refresh",
        "0.3",
        "--service-lease",
        "3",
        "--item-lease",
        "3",
        "--stats-every",
        "0",
        "--no-http",
    ]
    .map(str::to_owned)
    .to_vec();
    let worker = binary("worker-daemon");
    let workers = [
        Daemon::spawn(&worker, &worker_args, &node2, dir.path().join("w2.log")),
        Daemon::spawn(&worker, &worker_args, &node3, dir.path().join("w3.log")),
    ];

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt
        .block_on(Simulator::start(SimulatorConfig::default()))
        .expect("simulator");
    let spool = dir.path().join("spool");
    let capture_args: Vec<String> = vec![
        "--username".into(),
        sim.username().into(),
        "--room-id".into(),
        sim.room_id().to_string(),
        "--sign-server-url".into(),
        sim.base_url().to_string(),
        "--spool-dir".into(),
        spool.display().to_string(),
        "--reconnect-delay-ms".into(),
        "100".into(),
    ];
    let mut capture = Daemon::spawn(
        &binary("capture-daemon"),
        &capture_args,
        &proxy,
        dir.path().join("capture.log"),
    );
    let capture_log = capture.log.clone();
    let context = || {
        let mut out = cluster.status();
        out.push_str(&log_of(&capture_log));
        for w in &workers {
            out.push_str(&w.output());
        }
        out
    };

    // 200 gifts and 200 comments, about 40 messages a second.
    const N: usize = 200;
    let mut steps = Vec::new();
    for i in 0..N {
        steps.push(Step::Gift {
            user: format!("fan{i}"),
            gift: "Galaxy".into(),
            count: 1,
            interval_ms: 0,
            lose_end: false,
        });
        steps.push(Step::Comment {
            user: format!("fan{i}"),
            text: format!("comment {i}"),
        });
        steps.push(Step::Pause { ms: 50 });
    }
    sim.play(Scenario { steps });

    // Node 1 dies once a quarter of the stream is stored.
    let mut conn2 = connect(&node2);
    wait(
        "a quarter of the gifts stored",
        || {
            all_events(&mut conn2)
                .iter()
                .filter(|e| e.event_type == EventType::Gift)
                .count()
                >= N / 4
        },
        context,
    );
    cluster.kill9(1);
    let before_kill = all_events(&mut conn2).len();
    assert!(rt.block_on(sim.wait_idle(LONG)), "simulator stuck");
    sim.push(Step::End);
    let status = capture.wait_exit(LONG);
    assert!(
        status.is_some_and(|s| s.success()),
        "capture: {status:?}\n{}",
        context()
    );

    // Everything the workers were given is done, through the surviving nodes.
    wait(
        "every queue item completed",
        || {
            let items = all_items(&mut conn2);
            items.len() == 3 * N + 1 && items.iter().all(|i| i.status == QueueStatus::Completed)
        },
        || {
            let items = all_items(&mut connect(&node3));
            let open: Vec<_> = items
                .iter()
                .filter(|i| i.status != QueueStatus::Completed)
                .map(|i| (i.id, i.status))
                .collect();
            format!("{} rows, open {open:?}\n{}", items.len(), context())
        },
    );

    // Read through the other surviving node: it has everything too.
    let mut conn3 = connect(&node3);
    let events = all_events(&mut conn3);
    let gifts: Vec<&LiveEvent> = events
        .iter()
        .filter(|e| e.event_type == EventType::Gift)
        .collect();
    let comments: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == EventType::Comment)
        .filter_map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.event_data).ok()?["comment"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut expected: Vec<String> = vec!["first! 🥇".into()];
    expected.extend((0..N).map(|i| format!("comment {i}")));
    assert_eq!(
        comments, expected,
        "every comment once, in id order across the failover"
    );
    assert_eq!(gifts.len(), N, "every gift once\n{}", context());
    // The kill came mid-stream, and the capture went on: what was stored after the kill went
    // through another node. Before it, the capture wrote through node 1, whose ids are its
    // residue class (its `auto_increment_offset` of 3; Galera renumbers the survivors).
    assert!(
        before_kill < events.len(),
        "node 1 died mid-stream ({before_kill} events stored before)"
    );
    assert_eq!(
        events[0].id % 3,
        node1_offset % 3,
        "the capture wrote through node 1 first"
    );
    let mut msg_ids: Vec<i64> = events.iter().filter_map(|e| e.msg_id).collect();
    let stored = msg_ids.len();
    msg_ids.sort_unstable();
    msg_ids.dedup();
    assert_eq!(msg_ids.len(), stored, "no message stored twice");

    // Every gift has its row in both queues, every comment in rec_a's; nothing left open.
    let slugs = services::list(&mut conn3).expect("services");
    let id_of = |slug: &str| slugs.iter().find(|s| s.slug == slug).expect("service").id;
    let (a, b) = (id_of("rec_a"), id_of("rec_b"));
    let items = all_items(&mut conn3);
    for gift in &gifts {
        for service in [a, b] {
            let rows = items
                .iter()
                .filter(|i| i.live_event_id == gift.id && i.service_id == service)
                .count();
            assert_eq!(rows, 1, "gift {} in service {service}", gift.id);
        }
    }
    assert_eq!(
        items.iter().filter(|i| i.service_id == a).count(),
        2 * N + 1,
        "every gift and comment (and the simulator's first comment) once"
    );
    assert!(items.iter().all(|i| i.status == QueueStatus::Completed));

    // SYNC held across the whole run, and every item ran.
    for (log, service) in logs.iter().zip([a, b]) {
        let spans = spans(log);
        assert_eq!(max_overlap(&spans), 1, "SYNC overlap in {}", log.display());
        let mut ran: Vec<i64> = spans.iter().map(|s| s.id).collect();
        ran.sort_unstable();
        ran.dedup();
        let want: Vec<i64> = items
            .iter()
            .filter(|i| i.service_id == service)
            .map(|i| i.id)
            .collect();
        assert_eq!(ran, want, "every item of service {service} ran");
    }

    let sessions: Vec<LiveSession> = with_conn!(&mut conn3, |c| ls::table
        .select(LiveSession::as_select())
        .load(c))
    .expect("sessions");
    assert_eq!(sessions.len(), 1, "one session across the failover");
    assert_eq!(sessions[0].status, SessionStatus::Completed);
    assert_eq!(sessions[0].total_events, events.len() as i64);
    // For the CI log: what the failover looked like from the capture's side.
    let said = std::fs::read_to_string(&capture_log).unwrap_or_default();
    eprintln!(
        "capture on the failover:\n{}",
        said.lines()
            .filter(|l| l.contains("database") || l.contains("WARN") || l.contains("retry"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(workers);
    rt.block_on(sim.shutdown());
}

/// Batches committed one after another through different nodes: each node hands out ids in
/// its own residue class (`auto_increment_increment = 3`), yet the ids grow with commit
/// order, so the claim's `ORDER BY priority DESC, id` is priority then age.
#[test]
fn claim_order_is_priority_then_age_across_nodes() {
    let Some(cluster) = GaleraCluster::start() else {
        return;
    };
    let db = cluster.create_database("tl_galera_order");
    let urls: Vec<String> = (1..=3).map(|n| cluster.node_url(n, &db)).collect();
    ctl(&urls[0], &["migrate"]);
    ctl(
        &urls[0],
        &[
            "service",
            "add",
            "--name",
            "Order",
            "--slug",
            "order",
            "--class",
            "dummy",
            "--event",
            "GiftEvent:9:sync:keep",
            "--event",
            "CommentEvent:2:sync:keep",
        ],
    );
    let mut conns: Vec<DbConn> = urls.iter().map(|u| connect(u)).collect();
    for conn in &mut conns {
        assert!(conn.is_galera().expect("wsrep_on"), "a Galera node");
        let wait: i64 = with_conn!(conn, |c| diesel::select(diesel::dsl::sql::<
            diesel::sql_types::BigInt,
        >("@@wsrep_sync_wait"))
        .get_result(c))
        .expect("wsrep_sync_wait");
        assert_eq!(wait, i64::from(core_models::db::GALERA_SYNC_WAIT));
    }
    let session =
        sessions::start(&mut conns[0], Some("order"), "room1", "streamer").expect("session");

    // One event per batch, through nodes 1 2 3 3 2 1 1 3 … (a node may stay idle for a
    // while, then write again: its counter must have followed the others').
    let nodes = [0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 2];
    let mut sent = Vec::new();
    for round in 0..5 {
        for (k, &node) in nodes.iter().enumerate() {
            let msg = (round * nodes.len() + k) as i64 + 1;
            let event_type = if msg % 3 == 0 {
                EventType::Gift
            } else {
                EventType::Comment
            };
            Engine::new(&mut conns[node])
                .dispatch(&Batch {
                    session: SessionRef::of(&session),
                    events: vec![CapturedEvent {
                        event_type,
                        msg_id: Some(msg),
                        timestamp: chrono::Utc::now(),
                        user_id: Some(format!("u{msg}")),
                        user_unique_id: Some(format!("user{msg}")),
                        user_nickname: Some("n".into()),
                        streak: None,
                        data: serde_json::json!({"comment": "hi"}),
                        received_at: None,
                    }],
                })
                .expect("dispatch");
            sent.push((msg, event_type));
        }
    }
    let events = all_events(&mut conns[2]);
    let by_id: Vec<i64> = events.iter().filter_map(|e| e.msg_id).collect();
    let in_order: Vec<i64> = sent.iter().map(|(m, _)| *m).collect();
    assert_eq!(by_id, in_order, "event ids follow commit order");
    let residues: std::collections::BTreeSet<i64> = events.iter().map(|e| e.id % 3).collect();
    assert_eq!(residues.len(), 3, "every node handed out ids: {residues:?}");

    // Claimed through node 3: gifts (priority 9) first, then comments, each in sent order.
    let service = services::list(&mut conns[2]).expect("services")[0].id;
    let mut engine = Engine::new(&mut conns[2]);
    assert!(engine
        .acquire_service(service, "t", Duration::from_secs(30))
        .expect("lease"));
    let claimed = engine
        .claim(&ClaimParams {
            service_id: service,
            max: 1000,
            service_owner: "t",
            owner: "t",
            lease: Duration::from_secs(30),
            finished: &[],
        })
        .expect("claim")
        .items
        .expect("lease held");
    let got: Vec<i64> = claimed.iter().filter_map(|c| c.event.msg_id).collect();
    let mut want: Vec<i64> = sent
        .iter()
        .filter(|(_, t)| *t == EventType::Gift)
        .map(|(m, _)| *m)
        .collect();
    want.extend(
        sent.iter()
            .filter(|(_, t)| *t == EventType::Comment)
            .map(|(m, _)| *m),
    );
    assert_eq!(got, want, "priority, then the order they were stored in");

    // Read-your-writes: a value committed through node 1 is read at once through node 2. A
    // session of node 3 without the sync wait shows what it prevents (counted, not asserted:
    // on an idle loopback cluster the nodes often apply before the read anyway).
    let mut lax = connect(&urls[2]);
    if let DbConn::Mysql(c) = &mut lax {
        use diesel::connection::SimpleConnection;
        c.batch_execute("SET SESSION wsrep_sync_wait = 0")
            .expect("sync wait off");
    }
    let mut stale = 0;
    for i in 0..200 {
        let value = i.to_string();
        core_models::config_store::set(&mut conns[0], "rw", &value).expect("write on node 1");
        let seen_lax = core_models::config_store::get(&mut lax, "rw").expect("read on node 3");
        let seen = core_models::config_store::get(&mut conns[1], "rw").expect("read on node 2");
        assert_eq!(
            seen.as_deref(),
            Some(value.as_str()),
            "node 2 saw the write"
        );
        stale += usize::from(seen_lax.as_deref() != Some(value.as_str()));
    }
    eprintln!("reads through node 3 without wsrep_sync_wait that missed the write: {stale}/200");
}

/// Two nodes change the same row at once: the later COMMIT fails certification with 1213,
/// which is a lock conflict, and a write transaction runs again and succeeds.
#[test]
fn certification_conflicts_are_retried() {
    let Some(cluster) = GaleraCluster::start() else {
        return;
    };
    let db = cluster.create_database("tl_galera_cert");
    let (url1, url2) = (cluster.node_url(1, &db), cluster.node_url(2, &db));
    ctl(&url1, &["migrate"]);
    ctl(&url1, &["config", "set", "k", "0"]);
    let mut conn1 = connect(&url1);
    let mut conn2 = connect(&url2);

    // Node 1's transaction is open when node 2 commits a change of the same row.
    let mut attempts = 0;
    conn1
        .write_transaction(|conn| {
            attempts += 1;
            core_models::config_store::set(conn, "k", &format!("node1 try {attempts}"))?;
            if attempts == 1 {
                core_models::config_store::set(&mut conn2, "k", "node2").expect("node 2 writes");
            }
            Ok(())
        })
        .expect("retried after the certification conflict");
    assert_eq!(attempts, 2, "the first attempt lost certification");
    assert_eq!(
        core_models::config_store::get(&mut conn2, "k").expect("read"),
        Some("node1 try 2".into())
    );

    // The raw error: the losing transaction's statement or COMMIT fails with 1213.
    let err = conn1
        .transaction(|conn| {
            core_models::config_store::set(conn, "k", "node1 again")?;
            core_models::config_store::set(&mut conn2, "k", "node2 again").expect("node 2");
            Ok::<_, core_models::ModelError>(())
        })
        .expect_err("certification conflict");
    assert!(err.is_conflict(), "{err}");
}
