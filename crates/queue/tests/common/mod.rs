//! Helpers shared by the queue tests: services, sessions and events.
#![allow(dead_code)]

use chrono::Utc;
use core_models::schema::event_queue as eq;
use core_models::services::{self, NewService};
use core_models::{
    sessions, with_conn, CapturedEvent, DbConn, EventRoute, EventType, MaxQueueSize, Priority,
    QueueItem, ServiceKind,
};
use diesel::prelude::*;
use dispatcher::SessionContext;

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

pub fn session(conn: &mut DbConn, room: &str) -> SessionContext {
    SessionContext::of(&sessions::start(conn, Some("t"), room, "streamer").unwrap())
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
