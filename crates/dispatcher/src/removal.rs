//! Removing a service with its queue: the engine deletes the queue rows, the lease and its
//! rules' cooldowns, and core-models the rules and the service row, all in one transaction.

use core_models::schema::{
    event_queue as eq, rule_cooldowns as rc, service_event_configs as sec, service_leases as sl,
};
use core_models::{services, with_conn, DbConn, Service};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::{retry, EngineError};

/// What removing a service deleted with it.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    /// The service as it was.
    pub service: Service,
    /// Event configs deleted.
    pub event_configs: usize,
    /// Queue rows deleted.
    pub queue_items: usize,
}

/// Deletes a service, its queue and its lease (see
/// [`Engine::remove_service`](crate::Engine::remove_service)).
pub(crate) fn remove_service(conn: &mut DbConn, slug: &str) -> Result<Removed, EngineError> {
    retry(|| {
        conn.transaction(|conn| {
            let service = services::find(conn, slug)?;
            let id = service.id;
            let queue_items = with_conn!(conn, |c| {
                let q = diesel::delete(eq::table.filter(eq::service_id.eq(id))).execute(c)?;
                diesel::delete(sl::table.filter(sl::service_id.eq(id))).execute(c)?;
                let rules = sec::table.filter(sec::service_id.eq(id)).select(sec::id);
                diesel::delete(rc::table.filter(rc::rule_id.eq_any(rules))).execute(c)?;
                Ok::<_, diesel::result::Error>(q)
            })?;
            let event_configs = services::delete(conn, id)?;
            Ok(Removed {
                service,
                event_configs,
                queue_items,
            })
        })
    })
}
