//! Changes to services that must leave them runnable: `ctl service add|set` and the control
//! room's API both go through here, so both refuse (with the same sentence, nothing written)
//! a service the worker could not start.

use core_models::services::{self, NewService, ServiceChanges, ServiceDetail};
use core_models::{DbConn, ModelError, ModelResult, Service};

use crate::services::{build, ServiceEnv};

/// Creates a service and its event configs in one transaction, refused if the worker could
/// not run it.
pub fn add_service(conn: &mut DbConn, new: &NewService) -> ModelResult<ServiceDetail> {
    conn.write_transaction(|c| {
        let detail = services::add(c, new)?;
        check_runnable(&detail.service)?;
        Ok(detail)
    })
}

/// Applies changes to a service in one transaction, refused if the worker could not run the
/// result.
pub fn update_service(
    conn: &mut DbConn,
    slug: &str,
    changes: &ServiceChanges,
) -> ModelResult<Service> {
    conn.write_transaction(|c| {
        let service = services::update(c, slug, changes)?;
        check_runnable(&service)?;
        Ok(service)
    })
}

/// Refuses a service the worker daemon could not run as configured (a `no_page` value its
/// kind does not have, a webhook URL that is not http(s), …): the very check the worker makes
/// when it starts the service, run inside the caller's transaction, so nothing is written.
fn check_runnable(service: &Service) -> ModelResult<()> {
    build(service, &ServiceEnv::default())
        .map(|_| ())
        .map_err(|e| {
            ModelError::Invalid(format!(
                "service {} cannot run with these settings: {e}",
                service.slug
            ))
        })
}
