//! `event send | list`.

use core_models::event_search::{self, EventFilter};
use core_models::{config_store, DbConn};
use dispatcher::{Engine, TestEvent};

use crate::cli::{EventCommand, EventList, EventSend};
use crate::output::{self, Table};

/// Runs one `event` subcommand.
pub fn run(conn: &mut DbConn, cmd: EventCommand) -> anyhow::Result<()> {
    match cmd {
        EventCommand::Send(args) => send(conn, args),
        EventCommand::List(args) => list(conn, args),
    }
}

/// `event send`: one test event through the real dispatch path.
fn send(conn: &mut DbConn, a: EventSend) -> anyhow::Result<()> {
    let streamer = match a.streamer {
        Some(s) => s,
        None => config_store::default_streamer(conn)?,
    };
    let event = TestEvent {
        event_type: a.event_type,
        streamer,
        user: a.user,
        gift: a.gift,
        count: a.count,
        diamonds: a.diamonds,
        comment: a.comment,
    };
    let sent = Engine::new(conn).send_test_event(&event)?;
    if a.output.json {
        return output::json(&sent);
    }
    let services: Vec<String> = sent
        .dispatch
        .services
        .values()
        .map(|s| {
            if s.cooldown > 0 {
                format!("{} (cooling down)", s.slug)
            } else if s.discarded_new > 0 {
                format!("{} (queue full, dropped)", s.slug)
            } else {
                s.slug.clone()
            }
        })
        .collect();
    outln!(
        "Sent test {} as event {} in test session {}: {}.",
        a.event_type,
        sent.event_id.map_or("-".into(), |id| id.to_string()),
        sent.session_id,
        if services.is_empty() {
            "no service took it (no rule matched)".to_owned()
        } else {
            format!("queued for {}", services.join(", "))
        }
    );
    Ok(())
}

/// `event list`: a table, JSON or CSV.
fn list(conn: &mut DbConn, a: EventList) -> anyhow::Result<()> {
    let filter = EventFilter {
        session: a.session,
        event_type: a.event_type,
        user: a.user,
        text: a.q,
        before: None,
        limit: a.limit,
    }
    .checked()?;
    let events = event_search::search(conn, &filter)?;
    if a.output.json {
        return output::json(&events);
    }
    if a.csv {
        outln!("{}", event_search::CSV_HEADER);
        for e in &events {
            outln!("{}", event_search::csv_record(e));
        }
        return Ok(());
    }
    let mut t = Table::new(&["ID", "SESSION", "TIME (UTC)", "TYPE", "VIEWER", "DATA"]);
    for e in &events {
        t.row(vec![
            e.id.to_string(),
            e.session_id.to_string(),
            output::time(&e.timestamp),
            e.event_type.to_string(),
            e.user_unique_id
                .as_deref()
                .map_or("-".into(), |u| format!("@{u}")),
            output::cell(&e.event_data, 60),
        ]);
    }
    t.print("No events match.");
    Ok(())
}
