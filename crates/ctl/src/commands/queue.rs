//! `queue stats | list`.

use core_models::{services, DbConn};
use dispatcher::{Engine, ListParams, PruneParams};

use crate::cli::QueueCommand;
use crate::output::{self, Table};

pub fn run(conn: &mut DbConn, cmd: QueueCommand) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::Stats { slug, output: out } => {
            let service_id = match &slug {
                Some(s) => Some(services::find(conn, s)?.id),
                None => None,
            };
            let stats = Engine::new(conn).stats(service_id)?;
            if out.json {
                return output::json(&stats);
            }
            let mut t = Table::new(&[
                "SERVICE",
                "PENDING",
                "PROCESSING",
                "COMPLETED",
                "FAILED",
                "DISCARDED",
            ]);
            for s in &stats {
                t.row(vec![
                    s.slug.clone(),
                    s.pending.to_string(),
                    s.processing.to_string(),
                    s.completed.to_string(),
                    s.failed.to_string(),
                    s.discarded.to_string(),
                ]);
            }
            t.print("No services.");
        }
        QueueCommand::List {
            slug,
            status,
            limit,
            output: out,
        } => {
            let service = services::find(conn, &slug)?;
            let entries = Engine::new(conn).list(ListParams {
                service_id: service.id,
                status,
                limit: i64::from(limit),
            })?;
            if out.json {
                return output::json(&entries);
            }
            let mut t = Table::new(&[
                "ID",
                "STATUS",
                "REASON",
                "PRIO",
                "EVENT",
                "USER",
                "MODE",
                "ATTEMPTS",
                "QUEUED (UTC)",
                "ERROR",
            ]);
            for e in &entries {
                let i = &e.item;
                t.row(vec![
                    i.id.to_string(),
                    i.status.to_string(),
                    i.reason.map_or("-", |r| r.as_str()).into(),
                    i.priority.to_string(),
                    e.event_type.to_string(),
                    output::cell(e.user_unique_id.as_deref().unwrap_or("-"), 24),
                    if i.is_async { "async" } else { "sync" }.into(),
                    i.attempts.to_string(),
                    output::time(&i.created_at),
                    output::cell(i.last_error.as_deref().unwrap_or(""), 40),
                ]);
            }
            t.print(&format!("No queue items for {slug}."));
        }
        QueueCommand::Prune {
            older_than,
            batch_size,
        } => {
            let deleted = Engine::new(conn).prune(PruneParams {
                older_than: older_than.0,
                batch_size: batch_size as usize,
            })?;
            outln!(
                "Deleted {deleted} completed or discarded queue item(s) older than {}.",
                humanize(older_than.0)
            );
        }
    }
    Ok(())
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 && s > 0 => format!("{} week(s)", s / 604_800),
        s if s % 86_400 == 0 && s > 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}
