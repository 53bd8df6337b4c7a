//! Ingest: captured frames → `live_events` + queue rows, through the capture daemon's own
//! committer (its spool, group commit and the queue engine's dispatch); and the physical
//! limit: the same rows with plain multi-row INSERTs and nothing else.
//!
//! The plain INSERTs ([`plain_inserts`]) are the one place outside the queue engine that writes
//! `live_events` and `event_queue`, on purpose: they are the physical limit the engine is
//! compared with, so they must not go through it. Nothing else here touches those tables
//! directly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use capture_daemon::committer::{CommitTotals, Committer, CommitterConfig, GROUP_MAX_EVENTS};
use capture_daemon::console::{Console, Verbosity};
use capture_daemon::spool::Spool;
use core_models::models::now;
use core_models::schema::{event_queue as eq, live_events as le, services as sv};
use core_models::{
    services, sessions, with_conn, CapturedEvent, Db, DbConn, EventType, PoolOptions, Priority,
    QueueStatus,
};
use diesel::prelude::*;
use dispatcher::{Batch, Engine, SessionRef};

use super::rate;
use super::scratch::Scratch;

/// What one ingest run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestResult {
    pub events: usize,
    pub per_frame: usize,
    pub seconds: f64,
    pub events_per_sec: f64,
    /// Transactions the events went in (frames are grouped while a commit runs).
    pub transactions: u64,
    pub queue_rows: u64,
    pub discarded: u64,
    pub overflow: u64,
}

/// Hands `events`, in frames of `per_frame`, to the capture daemon's committer as fast as it takes
/// them (a burst: frames queue up while each transaction runs and go in the next one), with
/// the seeded services' queue limits set to `max_queue_size`, or left at the original's 50/100.
/// Timed from the first frame handed over to the last one committed.
pub fn through_committer(
    scratch: &Scratch,
    events: &[CapturedEvent],
    per_frame: usize,
    max_queue_size: Option<i32>,
) -> anyhow::Result<IngestResult> {
    let session = bench_session(scratch, max_queue_size)?;
    let spool_dir = tempfile::Builder::new()
        .prefix("tiklive-bench-spool-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let spool = Spool::open(&spool_dir.path().join("spool.jsonl"), 100_000)?;
    let db = Db::connect(&scratch.url, PoolOptions::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (took, totals) = runtime.block_on(commit_burst(db, spool, session, events, per_frame))?;
    anyhow::ensure!(
        totals.stored == events.len() as u64,
        "stored {} of {} events",
        totals.stored,
        events.len()
    );
    let (queue_rows, discarded) = queue_rows(scratch)?;
    Ok(IngestResult {
        events: events.len(),
        per_frame,
        seconds: took.as_secs_f64(),
        events_per_sec: rate(events.len(), took),
        transactions: totals.commits,
        queue_rows,
        discarded,
        overflow: totals.overflow,
    })
}

/// The seeded services' queue limits set to `max_queue_size` (or left as they are), and a
/// session for the ingest.
fn bench_session(scratch: &Scratch, max_queue_size: Option<i32>) -> anyhow::Result<SessionRef> {
    let mut conn = scratch.conn()?;
    if let Some(max) = max_queue_size {
        with_conn!(&mut conn, |c| diesel::update(sv::table)
            .set(sv::max_queue_size.eq(max))
            .execute(c))?;
    }
    let session = sessions::start(&mut conn, Some("bench"), "bench-room", "bench")?;
    Ok(SessionRef::of(&session))
}

/// Hands every frame to a new committer as fast as it takes them and waits until all are
/// committed; returns the time from the first frame handed over to the last one committed.
async fn commit_burst(
    db: Db,
    spool: Spool,
    session: SessionRef,
    events: &[CapturedEvent],
    per_frame: usize,
) -> anyhow::Result<(Duration, CommitTotals)> {
    let committer = Committer::spawn(
        db,
        spool,
        Console::new(Verbosity::Quiet),
        CommitterConfig::default(),
    );
    let started = Instant::now();
    for frame in events.chunks(per_frame.max(1)) {
        let batch = Batch {
            session: session.clone(),
            events: frame.to_vec(),
        };
        committer
            .send(batch)
            .await
            .map_err(|_| anyhow::anyhow!("the committer stopped early"))?;
    }
    let outcome = committer.close().await?;
    let took = started.elapsed();
    anyhow::ensure!(
        outcome.left_batches == 0,
        "{} frame(s) were left in the spool",
        outcome.left_batches
    );
    Ok((took, outcome.totals))
}

/// Every queue row now, and how many of them were discarded: counted by the database rather
/// than by the reports.
fn queue_rows(scratch: &Scratch) -> anyhow::Result<(u64, u64)> {
    let mut conn = scratch.conn()?;
    let queues = Engine::new(&mut conn).stats(None)?;
    let discarded: i64 = queues.iter().map(|s| s.discarded).sum();
    let rows: i64 = queues
        .iter()
        .map(|s| s.pending + s.processing + s.completed + s.failed + s.discarded)
        .sum();
    Ok((rows as u64, discarded as u64))
}

/// The same rows as an ingest with room for everything (every event stored, a pending queue
/// row per subscribed service), written with plain multi-row INSERTs in transactions as big as
/// the committer's under a burst ([`GROUP_MAX_EVENTS`], whole frames): no cleaning, no
/// de-duplication, no routing, no overflow policy. Deliberately outside the queue engine (see
/// the module docs).
pub fn plain_inserts(
    scratch: &Scratch,
    events: &[CapturedEvent],
    per_frame: usize,
) -> anyhow::Result<IngestResult> {
    let mut conn = scratch.conn()?;
    let session = sessions::start(&mut conn, Some("bench-raw"), "bench-raw", "bench")?;
    let routes = routes_by_type(&mut conn)?;
    let mut next_id: i64 = 1;
    let mut queue_rows = 0u64;
    let started = Instant::now();
    let per_tx = per_frame.max(1) * (GROUP_MAX_EVENTS / per_frame.max(1)).max(1);
    let mut transactions = 0u64;
    for frame in events.chunks(per_tx) {
        let t = now();
        let mut rows = Vec::with_capacity(frame.len());
        let mut queue = Vec::new();
        for e in frame {
            let id = next_id;
            next_id += 1;
            rows.push((
                le::id.eq(id),
                le::session_id.eq(session.id),
                le::event_type.eq(e.event_type),
                le::timestamp.eq(e.timestamp.naive_utc()),
                le::room_id.eq("bench-raw"),
                le::streamer_unique_id.eq("bench"),
                le::user_id.eq(e.user_id.clone()),
                le::user_unique_id.eq(e.user_unique_id.clone()),
                le::user_nickname.eq(e.user_nickname.clone()),
                le::is_streaking.eq(e.is_streaking()),
                le::streak_id.eq(e.streak.as_ref().map(|s| s.id.clone())),
                le::streak_status.eq(e.streak.as_ref().map(|s| s.status)),
                le::event_data.eq(e.data.to_string()),
                le::msg_id.eq(e.msg_id),
                (le::created_at.eq(t), le::updated_at.eq(t)),
            ));
            for &(service_id, priority, is_async, is_discardable) in
                routes.get(&e.event_type).map_or(&[][..], Vec::as_slice)
            {
                queue.push((
                    eq::service_id.eq(service_id),
                    eq::live_event_id.eq(id),
                    eq::session_id.eq(session.id),
                    eq::status.eq(QueueStatus::Pending),
                    eq::priority.eq(priority),
                    eq::is_async.eq(is_async),
                    eq::is_discardable.eq(is_discardable),
                    eq::attempts.eq(0),
                    eq::created_at.eq(t),
                    eq::updated_at.eq(t),
                ));
            }
        }
        queue_rows += queue.len() as u64;
        // Chunks as the engine's, within SQLite's 32,766 bound variables.
        conn.transaction(|conn| {
            with_conn!(conn, |c| {
                for chunk in rows.chunks(500) {
                    diesel::insert_into(le::table).values(chunk).execute(c)?;
                }
                for chunk in queue.chunks(1000) {
                    diesel::insert_into(eq::table).values(chunk).execute(c)?;
                }
                diesel::QueryResult::Ok(())
            })
        })?;
        transactions += 1;
    }
    let took = started.elapsed();
    Ok(IngestResult {
        events: events.len(),
        per_frame,
        seconds: took.as_secs_f64(),
        events_per_sec: rate(events.len(), took),
        transactions,
        queue_rows,
        discarded: 0,
        overflow: 0,
    })
}

/// Where each event type goes: (service_id, priority, async, discardable) of every enabled
/// config, decided once up front.
type Routes = HashMap<EventType, Vec<(i64, Priority, bool, bool)>>;

fn routes_by_type(conn: &mut DbConn) -> anyhow::Result<Routes> {
    let mut routes = Routes::new();
    for s in services::list(conn)? {
        for c in services::configs(conn, s.id)? {
            if c.is_enabled {
                routes.entry(c.event_type).or_default().push((
                    s.id,
                    c.priority,
                    c.is_async,
                    c.is_discardable,
                ));
            }
        }
    }
    Ok(routes)
}
