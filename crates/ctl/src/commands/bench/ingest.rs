//! Ingest: captured frames → `live_events` + queue rows, through the real dispatcher; and the
//! physical limit: the same rows with plain multi-row INSERTs and nothing else.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use core_models::models::now;
use core_models::schema::{event_queue as eq, live_events as le, services as sv};
use core_models::{services, sessions, with_conn, CapturedEvent, EventType, QueueStatus};
use diesel::prelude::*;
use dispatcher::{dispatch, DispatchReport, SessionContext};

use super::scratch::Scratch;

/// What one ingest run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestResult {
    pub events: usize,
    pub per_frame: usize,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub queue_rows: u64,
    pub discarded: u64,
    pub overflow: u64,
}

/// Dispatches `events` in frames of `per_frame` into the seeded services (their queue limits
/// set to `max_queue_size`, or left at the original's 50/100).
pub fn dispatch_run(
    scratch: &Scratch,
    events: &[CapturedEvent],
    per_frame: usize,
    max_queue_size: Option<i32>,
) -> anyhow::Result<IngestResult> {
    let mut conn = scratch.conn()?;
    if let Some(max) = max_queue_size {
        with_conn!(&mut conn, |c| diesel::update(sv::table)
            .set(sv::max_queue_size.eq(max))
            .execute(c))?;
    }
    let session = sessions::start(&mut conn, Some("bench"), "bench-room", "bench")?;
    let ctx = SessionContext::of(&session);
    let mut total = DispatchReport::default();
    let started = Instant::now();
    for frame in events.chunks(per_frame.max(1)) {
        total.merge(&dispatch(&mut conn, &ctx, frame)?);
    }
    let took = started.elapsed();
    let t = total.totals();
    Ok(IngestResult {
        events: events.len(),
        per_frame,
        seconds: took.as_secs_f64(),
        events_per_sec: rate(events.len(), took),
        queue_rows: t.enqueued + t.discarded_new,
        discarded: t.discarded_victim + t.discarded_new,
        overflow: t.overflow,
    })
}

/// The same rows as an ingest with room for everything (every event stored, a pending queue
/// row per subscribed service), written with plain multi-row INSERTs in one transaction per
/// frame: no cleaning, no de-duplication, no routing, no overflow policy.
pub fn raw_run(
    scratch: &Scratch,
    events: &[CapturedEvent],
    per_frame: usize,
) -> anyhow::Result<IngestResult> {
    let mut conn = scratch.conn()?;
    let session = sessions::start(&mut conn, Some("bench-raw"), "bench-raw", "bench")?;
    // Routing decided once up front: (service_id, priority, async, discardable) per type.
    let mut routes: HashMap<EventType, Vec<(i64, i32, bool, bool)>> = HashMap::new();
    for s in services::list(&mut conn)? {
        for c in services::configs(&mut conn, s.id)? {
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
    let mut next_id: i64 = 1;
    let mut queue_rows = 0u64;
    let started = Instant::now();
    for frame in events.chunks(per_frame.max(1)) {
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
                le::is_streaking.eq(e.streak.is_some()),
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
        conn.transaction(|conn| {
            with_conn!(conn, |c| {
                diesel::insert_into(le::table).values(&rows).execute(c)?;
                diesel::insert_into(eq::table).values(&queue).execute(c)
            })
        })?;
    }
    let took = started.elapsed();
    Ok(IngestResult {
        events: events.len(),
        per_frame,
        seconds: took.as_secs_f64(),
        events_per_sec: rate(events.len(), took),
        queue_rows,
        discarded: 0,
        overflow: 0,
    })
}

pub fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}
