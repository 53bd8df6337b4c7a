//! `event-config set | list | remove`.

use core_models::services::{self, ConfigChanges};
use core_models::DbConn;

use crate::cli::{EventConfigCommand, EventConfigSet};
use crate::output;

/// `true`, `false` or unchanged, from a pair of opposite flags.
fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Runs one `event-config` subcommand.
pub fn run(conn: &mut DbConn, cmd: EventConfigCommand) -> anyhow::Result<()> {
    match cmd {
        EventConfigCommand::Set(args) => set(conn, args),
        EventConfigCommand::List { slug, output: out } => {
            let service = services::find(conn, &slug)?;
            let configs = services::configs(conn, service.id)?;
            if out.json {
                return output::json(&configs);
            }
            super::rule::print_rules(&configs, &slug);
            Ok(())
        }
        EventConfigCommand::Remove { slug, event_type } => {
            services::remove_config(conn, &slug, event_type)?;
            outln!("Removed {slug} {event_type}: the service no longer receives it.");
            Ok(())
        }
    }
}

/// `event-config set`: creates the config or changes what its flags say.
fn set(conn: &mut DbConn, args: EventConfigSet) -> anyhow::Result<()> {
    let EventConfigSet {
        slug,
        event_type,
        priority,
        sync,
        is_async,
        discardable,
        keep,
        enable,
        disable,
        output: out,
    } = args;
    let (cfg, created) = services::set_config(
        conn,
        &slug,
        event_type,
        ConfigChanges {
            priority,
            is_async: flag(is_async, sync),
            is_discardable: flag(discardable, keep),
            is_enabled: flag(enable, disable),
        },
    )?;
    if out.json {
        return output::json(&cfg);
    }
    outln!(
        "{} {slug} {}: priority {}, {}, {}, {}.",
        if created { "Created" } else { "Updated" },
        cfg.event_type,
        cfg.priority,
        if cfg.is_async { "async" } else { "sync" },
        if cfg.is_discardable {
            "discardable"
        } else {
            "kept when full"
        },
        if cfg.is_enabled {
            "enabled"
        } else {
            "disabled"
        },
    );
    Ok(())
}
