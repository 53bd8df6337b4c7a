//! `session list | show`.

use core_models::{sessions, DbConn, LiveSession};

use crate::cli::{Output, SessionCommand};
use crate::output::{self, Table};

/// Runs one `session` subcommand.
pub fn run(conn: &mut DbConn, cmd: SessionCommand) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::List { limit, output: out } => list(conn, limit, &out),
        SessionCommand::Show { id, output: out } => show(conn, id, &out),
    }
}

/// `session list`: the latest sessions first.
fn list(conn: &mut DbConn, limit: u32, out: &Output) -> anyhow::Result<()> {
    let list = sessions::list(conn, i64::from(limit))?;
    if out.json {
        return output::json(&list);
    }
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
        t.row(vec![
            s.id.to_string(),
            s.status.to_string(),
            s.streamer_unique_id.clone(),
            s.room_id.clone(),
            output::cell(s.name.as_deref().unwrap_or("-"), 30),
            s.total_events.to_string(),
            output::time(&s.started_at),
            s.ended_at.as_ref().map_or("-".into(), output::time),
        ]);
    }
    t.print("No capture sessions yet. `capture-daemon --username NAME` starts one.");
    Ok(())
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
