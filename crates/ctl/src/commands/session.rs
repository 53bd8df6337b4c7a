//! `session list | show | report`.

use core_models::report::{self, SessionReport};
use core_models::{sessions, DbConn, LiveSession};

use crate::cli::{Output, SessionCommand};
use crate::output::{self, Table};

/// Runs one `session` subcommand.
pub fn run(conn: &mut DbConn, cmd: SessionCommand) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::List {
            limit,
            include_tests,
            output: out,
        } => list(conn, limit, include_tests, &out),
        SessionCommand::Show { id, output: out } => show(conn, id, &out),
        SessionCommand::Report { id, output: out } => print_report(conn, id, &out),
    }
}

/// `session list`: the latest sessions first, then the totals (of LIVEs only, unless
/// `include_tests`).
fn list(conn: &mut DbConn, limit: u32, include_tests: bool, out: &Output) -> anyhow::Result<()> {
    let list = sessions::list(conn, i64::from(limit))?;
    if out.json {
        return output::json(&list);
    }
    let totals = sessions::totals(conn, include_tests)?;
    let mut t = Table::new(&[
        "ID",
        "STATUS",
        "STREAMER",
        "ROOM",
        "NAME",
        "EVENTS",
        "STARTED (UTC)",
        "ENDED (UTC)",
    ]);
    for s in &list {
        let status = if s.is_test {
            format!("{} (test)", s.status)
        } else {
            s.status.to_string()
        };
        t.row(vec![
            s.id.to_string(),
            status,
            s.streamer_unique_id.clone(),
            s.room_id.clone(),
            output::cell(s.name.as_deref().unwrap_or("-"), 30),
            s.total_events.to_string(),
            output::time(&s.started_at),
            s.ended_at.as_ref().map_or("-".into(), output::time),
        ]);
    }
    t.print("No capture sessions yet. `capture-daemon --username NAME` starts one.");
    if !list.is_empty() {
        outln!(
            "Total: {} session(s), {} event(s){}.",
            totals.sessions,
            totals.events,
            if include_tests {
                ", test sessions included"
            } else {
                ", test sessions left out (--include-tests counts them)"
            }
        );
    }
    Ok(())
}

/// `session report`.
fn print_report(conn: &mut DbConn, id: i64, out: &Output) -> anyhow::Result<()> {
    let r = report::session_report(conn, id)?;
    if out.json {
        return output::json(&r);
    }
    print_session(&r.session);
    print_figures(&r);
    Ok(())
}

fn print_figures(r: &SessionReport) {
    let d = r.duration_secs;
    outln!(
        "  duration:  {}h {:02}m {:02}s",
        d / 3600,
        d / 60 % 60,
        d % 60
    );
    outln!(
        "  gifts:     {} ({} diamonds, about ${:.2})",
        r.gifts.count,
        r.gifts.diamonds,
        r.gifts.usd
    );
    outln!(
        "  viewers:   peak {}, average {}",
        r.viewers.peak,
        r.viewers.average
    );
    outln!("  followers: {} new", r.new_followers.count);
    outln!();
    outln!("Events by type:");
    for (t, n) in &r.events_by_type {
        outln!("  {t:<22} {n}");
    }
    outln!();
    outln!("Top gifters:");
    let mut t = Table::new(&["VIEWER", "NAME", "DIAMONDS", "GIFTS"]);
    for g in &r.top_gifters {
        t.row(vec![
            format!("@{}", g.unique_id),
            output::cell(&g.nickname, 30),
            g.diamonds.to_string(),
            g.gifts.to_string(),
        ]);
    }
    t.print("  none");
    outln!();
    outln!("Top commenters:");
    let mut t = Table::new(&["VIEWER", "NAME", "COMMENTS"]);
    for c in &r.top_commenters {
        t.row(vec![
            format!("@{}", c.unique_id),
            output::cell(&c.nickname, 30),
            c.comments.to_string(),
        ]);
    }
    t.print("  none");
    outln!();
    outln!(
        "Per minute: {} minute(s); `--json` gives events, diamonds and viewers of each.",
        r.per_minute.len()
    );
}

/// `session show`.
fn show(conn: &mut DbConn, id: i64, out: &Output) -> anyhow::Result<()> {
    let s = sessions::get(conn, id)?;
    if out.json {
        return output::json(&s);
    }
    print_session(&s);
    Ok(())
}

fn print_session(s: &LiveSession) {
    outln!("Session {}", s.id);
    outln!("  name:      {}", s.name.as_deref().unwrap_or("-"));
    outln!("  status:    {}", s.status);
    outln!("  streamer:  {}", s.streamer_unique_id);
    outln!("  room:      {}", s.room_id);
    outln!("  events:    {}", s.total_events);
    if s.is_test {
        outln!("  test:      yes (test events, not a LIVE)");
    }
    outln!("  started:   {} UTC", output::time(&s.started_at));
    outln!(
        "  ended:     {}",
        s.ended_at
            .as_ref()
            .map_or("-".into(), |t| format!("{} UTC", output::time(t)))
    );
    if let Some(n) = &s.notes {
        outln!("  notes:     {n}");
    }
}
