//! Ingest benchmark of the dispatcher, and the cost of knowing a queue's pending size.
//!
//! ```text
//! cargo run --release -p dispatcher --example ingest_bench -- [DATABASE_URL] [EVENTS] [FRAME]
//! ```
//!
//! Without a URL it uses a fresh SQLite file in the temporary directory. With one, use a
//! scratch database: it is migrated, seeded (DinoChrome, Overlays) and filled.
//!
//! 1. Ingest: EVENTS events of the original's overload mix, FRAME per `dispatch` (one webcast
//!    frame = one transaction), into both seeded services with no workers — queues full, so
//!    every event goes through the overflow policy.
//! 2. Pending size: a service whose queue overflows to 20,000 non-discardable items; the
//!    bounded count dispatch uses (at most max_queue_size index entries) against the
//!    `COUNT(*)` per event the original used.

use std::time::{Duration, Instant};

use core_models::schema::event_queue as eq;
use core_models::services::{self, NewService};
use core_models::{
    seed, sessions, with_conn, DbConn, DbUrl, EventRoute, EventType, MaxQueueSize, Priority,
    QueueStatus, ServiceKind,
};
use diesel::prelude::*;
use dispatcher::{dispatch, pending_at_most, workload, DispatchReport, SessionContext};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pid = std::process::id();
    let url = match args.first().filter(|a| !a.is_empty()) {
        Some(u) => u.clone(),
        None => std::env::temp_dir()
            .join(format!("tiklive-bench-{pid}.sqlite3"))
            .display()
            .to_string(),
    };
    let events: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let frame: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(40);
    let db_url = DbUrl::resolve(Some(&url))?;
    let mut conn = DbConn::establish(&db_url)?;
    conn.run_migrations()?;
    seed::populate_initial_data(&mut conn)?;
    let room = format!("bench-{pid}-{}", chrono::Utc::now().timestamp_micros());
    let ctx = SessionContext::of(&sessions::start(&mut conn, Some("bench"), &room, "bench")?);

    // 1. Ingest.
    let burst = workload::burst(events, workload::OVERLOAD_MIX, 42, 1);
    let mut total = DispatchReport::default();
    let started = Instant::now();
    for f in burst.chunks(frame.max(1)) {
        total.merge(&dispatch(&mut conn, &ctx, f)?);
    }
    let took = started.elapsed();
    println!("database: {}", db_url.masked());
    println!(
        "| ingest | {events} events, {frame}/frame | {:.0} events/s | {:.1} ms/frame |",
        events as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / burst.chunks(frame.max(1)).len() as f64
    );
    for s in total.services.values() {
        println!(
            "|   {} | enqueued {} | discarded {} old + {} new | overflow {} |",
            s.slug, s.enqueued, s.discarded_victim, s.discarded_new, s.overflow
        );
    }

    // 2. Pending size on an overflowing queue.
    let slug = format!("bench-overflow-{pid}");
    let service = services::add(
        &mut conn,
        &NewService {
            name: slug.clone(),
            slug: slug.parse()?,
            kind: ServiceKind::Dummy,
            description: "ingest_bench: an overflowing queue".into(),
            is_active: true,
            max_queue_size: MaxQueueSize::new(100)?,
            settings: Vec::new(),
            // Viewer counts: no seeded service takes them, so only this queue grows.
            routes: vec![EventRoute {
                event_type: EventType::ViewerCount,
                priority: Priority::new(5)?,
                is_async: false,
                is_discardable: false,
                is_enabled: true,
            }],
        },
    )?
    .service;
    let fill = workload::burst(20_000, &[(EventType::ViewerCount, 1)], 7, 10_000_000);
    for f in fill.chunks(500) {
        dispatch(&mut conn, &ctx, f)?;
    }
    let rounds = 500;
    let bounded = time(rounds, || {
        pending_at_most(&mut conn, service.id, 100).map(|_| ())
    })?;
    let exact = time(rounds, || {
        with_conn!(&mut conn, |c| eq::table
            .filter(eq::service_id.eq(service.id))
            .filter(eq::status.eq(QueueStatus::Pending))
            .count()
            .get_result::<i64>(c))
        .map(|_| ())
        .map_err(Into::into)
    })?;
    println!(
        "| pending size, 20,000 pending | bounded (≤ 100 index entries): {:.1} µs | COUNT(*): {:.1} µs | {:.0}× |",
        micros(bounded, rounds),
        micros(exact, rounds),
        exact.as_secs_f64() / bounded.as_secs_f64().max(1e-9)
    );
    services::remove(&mut conn, &slug)?;
    Ok(())
}

fn time(
    rounds: usize,
    mut f: impl FnMut() -> Result<(), dispatcher::DispatchError>,
) -> Result<Duration, dispatcher::DispatchError> {
    let started = Instant::now();
    for _ in 0..rounds {
        f()?;
    }
    Ok(started.elapsed())
}

fn micros(d: Duration, rounds: usize) -> f64 {
    d.as_secs_f64() * 1e6 / rounds as f64
}
