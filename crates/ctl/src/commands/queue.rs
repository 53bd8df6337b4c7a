//! `queue stats | list | clear | retry | skip | prune`.

use std::time::Duration;

use core_models::{services, DbConn, QueueReason, QueueStatus};
use dispatcher::{Engine, ListParams, PruneParams};

use crate::cli::{Output, QueueCommand};
use crate::output::{self, Table};

/// Runs one `queue` subcommand.
pub fn run(conn: &mut DbConn, cmd: QueueCommand) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::Stats { slug, output: out } => stats(conn, slug.as_deref(), &out),
        QueueCommand::List {
            slug,
            status,
            reason,
            limit,
            output: out,
        } => list(conn, &slug, (status, reason), limit, &out),
        QueueCommand::Clear { slug } => {
            let n = Engine::new(conn).clear(&slug)?;
            outln!("Cleared {n} pending item(s) of {slug} (now discarded, reason cleared).");
            Ok(())
        }
        QueueCommand::Retry { slug, id } => {
            let n = Engine::new(conn).retry_failed(&slug, id)?;
            outln!("{n} failed item(s) of {slug} back in the queue.");
            Ok(())
        }
        QueueCommand::Skip { slug, id } => {
            Engine::new(conn).skip(&slug, id)?;
            outln!("Skipped item {id} of {slug} (now failed, reason skipped).");
            Ok(())
        }
        QueueCommand::Prune {
            older_than,
            batch_size,
        } => prune(conn, older_than.0, batch_size),
    }
}

/// `queue stats`: every queue's counts by status, or one service's.
fn stats(conn: &mut DbConn, slug: Option<&str>, out: &Output) -> anyhow::Result<()> {
    let service_id = match slug {
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
    Ok(())
}

/// `queue list`: a service's items, in claim order.
fn list(
    conn: &mut DbConn,
    slug: &str,
    (status, reason): (Option<QueueStatus>, Option<QueueReason>),
    limit: u32,
    out: &Output,
) -> anyhow::Result<()> {
    let service = services::find(conn, slug)?;
    let entries = Engine::new(conn).list(ListParams {
        service_id: service.id,
        status,
        reason,
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
    Ok(())
}

/// `queue prune`: finished items older than `older_than`, in batches.
fn prune(conn: &mut DbConn, older_than: Duration, batch_size: u32) -> anyhow::Result<()> {
    let deleted = Engine::new(conn).prune(PruneParams {
        older_than,
        batch_size: batch_size as usize,
    })?;
    outln!(
        "Deleted {deleted} completed or discarded queue item(s) older than {}.",
        humanize(older_than)
    );
    Ok(())
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 && s > 0 => format!("{} week(s)", s / 604_800),
        s if s % 86_400 == 0 && s > 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}
