//! `service add | list | show | enable | disable | remove | set`.

use core_models::services::{self, Listed, NewService, ServiceChanges, ServiceDetail};
use core_models::DbConn;
use dispatcher::{Engine, QueueStats};

use crate::cli::{Output, ServiceAdd, ServiceCommand, ServiceSet};
use crate::output::{self, Table};

/// Runs one `service` subcommand.
pub fn run(conn: &mut DbConn, cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Add(a) => add(conn, a),
        ServiceCommand::List(out) => list(conn, &out),
        ServiceCommand::Show { slug, output: out } => show(conn, &slug, &out),
        ServiceCommand::Enable { slug } => set_active(conn, &slug, true),
        ServiceCommand::Disable { slug } => set_active(conn, &slug, false),
        ServiceCommand::Remove { slug } => remove(conn, &slug),
        ServiceCommand::Set(a) => set(conn, a),
        ServiceCommand::Pause { slug } => set_paused(conn, &slug, true),
        ServiceCommand::Resume { slug } => set_paused(conn, &slug, false),
    }
}

/// `service add`: the service and its event configs in one transaction, refused (nothing
/// written) if the worker could not run it.
fn add(conn: &mut DbConn, a: ServiceAdd) -> anyhow::Result<()> {
    let new = NewService {
        name: a.name,
        slug: a.slug,
        kind: a.kind,
        description: a.description,
        is_active: !a.inactive,
        max_queue_size: a.max_queue_size,
        settings: a.settings,
        routes: a.events,
        streamers: a.streamers,
    };
    let detail = worker_daemon::admin::add_service(conn, &new)?;
    if a.output.json {
        return output::json(&detail);
    }
    let s = &detail.service;
    outln!(
        "Created service {} ({}, class {}, max queue {}, {}) with {} event config(s).",
        s.slug,
        s.name,
        s.service_class,
        s.max_queue_size,
        if s.is_active { "active" } else { "inactive" },
        detail.event_configs.len()
    );
    if detail.event_configs.is_empty() {
        outln!(
            "It receives no events yet: `ctl event-config set {} GiftEvent --priority 10` adds one.",
            s.slug
        );
    }
    Ok(())
}

/// `service list`.
fn list(conn: &mut DbConn, out: &Output) -> anyhow::Result<()> {
    let list = services::list_with_streamers(conn)?;
    if out.json {
        return output::json(&list);
    }
    let mut t = Table::new(&[
        "SLUG",
        "NAME",
        "CLASS",
        "ACTIVE",
        "MAX QUEUE",
        "STREAMERS",
        "SETTINGS",
    ]);
    for Listed {
        service: s,
        streamers,
    } in &list
    {
        t.row(vec![
            s.slug.clone(),
            output::cell(&s.name, 40),
            s.service_class.clone(),
            if s.is_paused {
                "paused".to_owned()
            } else {
                output::yes_no(s.is_active)
            },
            s.max_queue_size.to_string(),
            streamers_cell(streamers),
            output::cell(&s.settings, 50),
        ]);
    }
    t.print("No services. `ctl populate-initial-data` creates DinoChrome and Overlays.");
    Ok(())
}

/// The streamers a service serves, for a table.
fn streamers_cell(streamers: &[String]) -> String {
    if streamers.is_empty() {
        "all".to_owned()
    } else {
        output::cell(
            &streamers
                .iter()
                .map(|s| format!("@{s}"))
                .collect::<Vec<_>>()
                .join(" "),
            60,
        )
    }
}

/// `service show`: the service, its queue's counts and its event configs.
fn show(conn: &mut DbConn, slug: &str, out: &Output) -> anyhow::Result<()> {
    let detail = services::detail(conn, slug)?;
    let stats = Engine::new(conn)
        .stats(Some(detail.service.id))?
        .into_iter()
        .next()
        .unwrap_or_default();
    if out.json {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            detail: &'a ServiceDetail,
            queue: &'a QueueStats,
        }
        return output::json(&Shown {
            detail: &detail,
            queue: &stats,
        });
    }
    let s = &detail.service;
    outln!("Service {} ({})", s.slug, s.name);
    outln!("  class:          {}", s.service_class);
    if let Err(e) = s.kind() {
        outln!("  WARNING:        {e}");
    }
    outln!("  active:         {}", output::yes_no(s.is_active));
    if s.is_paused {
        outln!(
            "  paused:         yes (`ctl service resume {}` lets workers claim again)",
            s.slug
        );
    }
    outln!("  max queue size: {}", s.max_queue_size);
    outln!("  streamers:      {}", streamers_cell(&detail.streamers));
    outln!("  settings:       {}", detail.settings_json);
    if !s.description.is_empty() {
        outln!("  description:    {}", output::cell(&s.description, 200));
    }
    outln!(
        "  queue:          {} pending, {} processing, {} completed, {} failed, {} discarded",
        stats.pending,
        stats.processing,
        stats.completed,
        stats.failed,
        stats.discarded
    );
    outln!();
    super::rule::print_rules(&detail.event_configs, &s.slug);
    Ok(())
}

/// `service enable` and `service disable`.
fn set_active(conn: &mut DbConn, slug: &str, active: bool) -> anyhow::Result<()> {
    let (s, changed) = services::set_active(conn, slug, active)?;
    let done = if active { "enabled" } else { "disabled" };
    if changed {
        outln!("Service {} {done}.", s.slug);
    } else {
        outln!("Service {} was already {done}.", s.slug);
    }
    Ok(())
}

/// `service pause` and `service resume`.
fn set_paused(conn: &mut DbConn, slug: &str, paused: bool) -> anyhow::Result<()> {
    let (s, changed) = services::set_paused(conn, slug, paused)?;
    match (paused, changed) {
        (true, true) => outln!(
            "Service {} paused: it keeps receiving events, workers claim none until `ctl service resume {}`.",
            s.slug, s.slug
        ),
        (true, false) => outln!("Service {} was already paused.", s.slug),
        (false, true) => outln!("Service {} resumed.", s.slug),
        (false, false) => outln!("Service {} was not paused.", s.slug),
    }
    Ok(())
}

/// `service remove`: the service with its event configs and its queue (the engine's).
fn remove(conn: &mut DbConn, slug: &str) -> anyhow::Result<()> {
    let r = Engine::new(conn).remove_service(slug)?;
    outln!(
        "Removed service {} with {} event config(s) and {} queue item(s).",
        r.service.slug,
        r.event_configs,
        r.queue_items
    );
    Ok(())
}

/// `service set`: the changes in one transaction, refused (nothing written) if the worker
/// could not run the result.
fn set(conn: &mut DbConn, a: ServiceSet) -> anyhow::Result<()> {
    let changes = ServiceChanges {
        name: a.name,
        kind: a.kind,
        max_queue_size: a.max_queue_size,
        description: a.description,
        settings: a.settings,
        streamers: if a.all_streamers {
            Some(Vec::new())
        } else {
            (!a.streamers.is_empty()).then_some(a.streamers)
        },
    };
    let s = worker_daemon::admin::update_service(conn, &a.slug, &changes)?;
    let streamers = core_models::scopes::streamers_of(conn, s.id)?;
    outln!(
        "Updated service {} ({}, class {}, max queue {}, streamers {}, settings {}).",
        s.slug,
        s.name,
        s.service_class,
        s.max_queue_size,
        streamers_cell(&streamers),
        s.settings
    );
    Ok(())
}
