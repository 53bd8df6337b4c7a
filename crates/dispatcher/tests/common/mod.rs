//! Helpers shared by the claim-side tests: services, sessions and events, and one-item
//! shorthands over the engine's operations (a worker claims under its daemon's service lease
//! and finishes items in batches; these do the same for one call of a test).
#![allow(dead_code)]

use std::time::Duration;

use chrono::Utc;
use core_models::schema::event_queue as eq;
use core_models::services::{self, NewService};
use core_models::{
    sessions, with_conn, CapturedEvent, DbConn, EventRoute, EventType, MaxQueueSize, Priority,
    QueueItem, ServiceKind,
};
use diesel::prelude::*;
use dispatcher::{
    Batch, ClaimParams, ClaimedItem, DispatchReport, Engine, EngineError, Outcome, SessionRef,
};

/// The daemon whose service lease [`claim`] claims under.
pub const DAEMON: &str = "test-daemon";

pub fn event(ty: EventType, msg_id: Option<i64>) -> CapturedEvent {
    CapturedEvent {
        event_type: ty,
        msg_id,
        timestamp: Utc::now(),
        user_id: Some("1".into()),
        user_unique_id: Some("fan".into()),
        user_nickname: Some("Fan".into()),
        streak: None,
        data: serde_json::json!({"user": {"unique_id": "fan", "nickname": "Fan"}}),
        received_at: None,
    }
}

pub fn session(conn: &mut DbConn, room: &str) -> SessionRef {
    SessionRef::of(&sessions::start(conn, Some("t"), room, "streamer").unwrap())
}

/// Stores and routes `events` as one batch of `session`.
pub fn dispatch(
    conn: &mut DbConn,
    session: &SessionRef,
    events: &[CapturedEvent],
) -> Result<DispatchReport, EngineError> {
    Engine::new(conn).dispatch(&Batch {
        session: session.clone(),
        events: events.to_vec(),
    })
}

/// A service with (type, priority, discardable, enabled) routes; returns its id.
pub fn service(
    conn: &mut DbConn,
    slug: &str,
    max: i64,
    routes: &[(EventType, i64, bool, bool)],
) -> i64 {
    services::add(
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
                .map(|&(event_type, p, is_discardable, is_enabled)| EventRoute {
                    event_type,
                    priority: Priority::new(p).unwrap(),
                    is_async: false,
                    is_discardable,
                    is_enabled,
                })
                .collect(),
        },
    )
    .unwrap()
    .service
    .id
}

/// Every queue row of a service, by id.
pub fn queue(conn: &mut DbConn, service_id: i64) -> Vec<QueueItem> {
    with_conn!(conn, |c| eq::table
        .filter(eq::service_id.eq(service_id))
        .order(eq::id.asc())
        .select(QueueItem::as_select())
        .load(c))
    .unwrap()
}

/// Claims up to `n` items of a service for the worker `owner`, as a worker of [`DAEMON`]
/// does: under the daemon's service lease (taken first if it does not hold it yet).
pub fn claim(
    conn: &mut DbConn,
    service_id: i64,
    n: usize,
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedItem>, EngineError> {
    let mut engine = Engine::new(conn);
    let params = ClaimParams {
        service_id,
        max: n,
        service_owner: DAEMON,
        owner,
        lease,
        finished: &[],
    };
    if let Some(items) = engine.claim(&params)?.items {
        return Ok(items);
    }
    // A claimer thread racing another one of the same daemon to create the lease row may be
    // told no while the other creates it: the lease is the daemon's all the same.
    let held = engine.acquire_service(service_id, DAEMON, Duration::from_secs(3600))?
        || engine
            .service_owner(service_id)?
            .is_some_and(|lease| lease.owner == DAEMON);
    assert!(held, "another daemon holds service {service_id}");
    Ok(engine
        .claim(&params)?
        .items
        .expect("the service lease was just taken"))
}

/// Records one item's outcome for `owner`; true if it was recorded (the owner held it).
pub fn finish_one(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    outcome: Outcome,
) -> Result<bool, EngineError> {
    let done = Engine::new(conn).finish(owner, &[(item_id, outcome)])?;
    assert_eq!(
        (done.completed + done.failed) + done.not_held.len() as u64,
        1
    );
    Ok((done.completed + done.failed) == 1)
}

/// Completes one item for `owner`; true if it was `processing` under `owner`.
pub fn complete(conn: &mut DbConn, item_id: i64, owner: &str) -> Result<bool, EngineError> {
    finish_one(conn, item_id, owner, Outcome::Completed)
}

/// Fails one item for `owner` with `error`; true if it was `processing` under `owner`.
pub fn fail(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    error: &str,
) -> Result<bool, EngineError> {
    finish_one(conn, item_id, owner, Outcome::Failed(error.into()))
}

/// Hands one item back for `owner`; true if it was `processing` under `owner`.
pub fn release(conn: &mut DbConn, item_id: i64, owner: &str) -> Result<bool, EngineError> {
    Ok(Engine::new(conn).release_items(owner, &[item_id])? == 1)
}

/// Renews one item's lease for `owner`; true if it was `processing` under `owner`.
pub fn renew(
    conn: &mut DbConn,
    item_id: i64,
    owner: &str,
    lease: Duration,
) -> Result<bool, EngineError> {
    Ok(Engine::new(conn).renew_items(owner, &[item_id], lease)? == 1)
}

/// Claims (with nothing to record) only while `service_owner` holds the service lease, as
/// the worker's claim does: `None` when it does not.
pub fn claim_if_owner(
    conn: &mut DbConn,
    service_id: i64,
    n: usize,
    service_owner: &str,
    owner: &str,
    lease: Duration,
) -> Result<Option<Vec<ClaimedItem>>, EngineError> {
    Ok(Engine::new(conn)
        .claim(&ClaimParams {
            service_id,
            max: n,
            service_owner,
            owner,
            lease,
            finished: &[],
        })?
        .items)
}
