//! `migrate` and `populate-initial-data`.

use anyhow::Context;
use core_models::{seed, DbConn, DbUrl};

/// `migrate`: applies the pending migrations and names them.
pub fn migrate(url: &DbUrl) -> anyhow::Result<()> {
    let mut conn = DbConn::establish(url)?;
    let names = conn
        .pending_migrations()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot read the schema version of {}", url.masked()))?;
    let applied = conn
        .run_migrations()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("migration failed on {}", url.masked()))?;
    if applied.is_empty() {
        outln!("Database {} is up to date.", url.masked());
    } else {
        for name in &names {
            outln!("Applied migration {name}");
        }
        outln!(
            "Database {} migrated ({} migration(s) applied).",
            url.masked(),
            applied.len()
        );
    }
    Ok(())
}

/// `populate-initial-data`: the original's config keys and services, where missing.
pub fn populate(conn: &mut DbConn) -> anyhow::Result<()> {
    let report = seed::populate_initial_data(conn)?;
    if report.is_unchanged() {
        outln!("Initial data already present: nothing changed.");
        return Ok(());
    }
    for key in &report.config_created {
        outln!("Created config {key} = \"\"");
    }
    for slug in &report.services_created {
        outln!("Created service {slug} with its 7 event configs");
    }
    for cfg in &report.event_configs_created {
        outln!("Added missing event config {cfg}");
    }
    outln!("Initial data populated. `ctl service list` shows the services.");
    Ok(())
}
