//! `rule add | set | list | remove | test`.

use std::io::Read;

use anyhow::Context;
use chrono::Utc;
use core_models::rules::{self, Basics, NewRule, RuleChanges};
use core_models::{
    services, CapturedEvent, Conditions, DbConn, EventType, ModelError, Rule, Streak,
};
use dispatcher::{Engine, RuleVerdict, Verdict};
use serde::Deserialize;

use crate::cli::{RuleAdd, RuleCommand, RuleFields, RuleSet};
use crate::output::{self, Table};

/// Runs one `rule` subcommand.
pub fn run(conn: &mut DbConn, cmd: RuleCommand) -> anyhow::Result<()> {
    match cmd {
        RuleCommand::Add(args) => add(conn, args),
        RuleCommand::Set(args) => set(conn, args),
        RuleCommand::List { slug, output: out } => {
            let service = services::find(conn, &slug)?;
            let rules = rules::list(conn, service.id)?;
            if out.json {
                return output::json(&rules);
            }
            print_rules(&rules, &slug);
            Ok(())
        }
        RuleCommand::Remove { slug, name } => {
            rules::remove(conn, &slug, &name)?;
            outln!("Removed rule {name} of {slug}.");
            Ok(())
        }
        RuleCommand::Test {
            slug,
            event,
            output: out,
        } => test(conn, &slug, &event, out.json),
    }
}

/// `true`, `false` or unchanged, from a pair of opposite flags.
fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

impl RuleFields {
    fn basics(&self, enabled: bool) -> Basics {
        Basics {
            priority: self.priority,
            is_async: flag(self.is_async, self.sync),
            is_discardable: flag(self.discardable, self.keep),
            is_enabled: flag(enabled, self.disabled),
        }
    }

    fn conditions(&self) -> Conditions {
        Conditions {
            gifts: self.gifts.clone(),
            min_diamonds: self.min_diamonds,
            min_count: self.min_count,
            comment_prefix: self.comment_prefix.clone(),
            comment_regex: self.comment_regex.clone(),
            from: self.from.clone(),
            min_gifter_level: self.min_gifter_level,
            users: self.users.clone(),
            min_likes: self.min_likes,
        }
    }
}

fn add(conn: &mut DbConn, args: RuleAdd) -> anyhow::Result<()> {
    let f = &args.fields;
    let new = NewRule {
        name: args.name.clone(),
        event_type: Some(args.event_type),
        basics: f.basics(false),
        conditions: f.conditions(),
        cooldown: f.cooldown,
        user_cooldown: f.user_cooldown,
        streak: f.streak,
        action: f.action.clone(),
    };
    let rule = rules::add(conn, &args.slug, &new)?;
    if args.output.json {
        return output::json(&rule);
    }
    outln!(
        "Created rule {} of {}: {}.",
        rule.name,
        args.slug,
        summary(&rule)
    );
    Ok(())
}

fn set(conn: &mut DbConn, args: RuleSet) -> anyhow::Result<()> {
    let f = &args.fields;
    let changes = RuleChanges {
        event_type: args.event_type,
        basics: f.basics(args.enabled),
        clear_conditions: args.clear_conditions,
        conditions: f.conditions(),
        cooldown: none_or(f.cooldown, args.no_cooldown),
        user_cooldown: none_or(f.user_cooldown, args.no_user_cooldown),
        streak: f.streak,
        action: none_or(f.action.clone(), args.no_action),
    };
    let rule = rules::set(conn, &args.slug, &args.name, &changes)?;
    if args.output.json {
        return output::json(&rule);
    }
    outln!(
        "Updated rule {} of {}: {}.",
        rule.name,
        args.slug,
        summary(&rule)
    );
    Ok(())
}

/// `Some(Some(v))` to set, `Some(None)` to remove, `None` to leave.
fn none_or<T>(value: Option<T>, remove: bool) -> Option<Option<T>> {
    if remove {
        Some(None)
    } else {
        value.map(Some)
    }
}

/// A rule in one line: `GiftEvent, priority 10, sync, kept when full, gifts Lion, streak end`.
fn summary(r: &Rule) -> String {
    let mut parts = vec![
        r.event_type.to_string(),
        format!("priority {}", r.priority),
        if r.is_async { "async" } else { "sync" }.to_owned(),
        if r.is_discardable {
            "discardable"
        } else {
            "kept when full"
        }
        .to_owned(),
    ];
    let when = conditions_text(r);
    if !when.is_empty() {
        parts.push(format!("when {when}"));
    }
    parts.extend(cooldowns_text(r));
    if r.event_type == EventType::Gift {
        parts.push(format!("streak {}", r.streak_policy));
    }
    if let Some(a) = &r.action {
        parts.push(format!("action {a}"));
    }
    if !r.is_enabled {
        parts.push("disabled".into());
    }
    parts.join(", ")
}

/// The conditions as the flags that set them.
fn conditions_text(r: &Rule) -> String {
    let c = r.parsed_conditions();
    let mut out = Vec::new();
    let mut each = |flag: &str, values: Vec<String>| {
        out.extend(values.into_iter().map(|v| format!("--{flag} {v}")));
    };
    each("gift", c.gifts);
    each(
        "min-diamonds",
        c.min_diamonds.map(|n| n.to_string()).into_iter().collect(),
    );
    each(
        "min-count",
        c.min_count.map(|n| n.to_string()).into_iter().collect(),
    );
    each("comment-prefix", c.comment_prefix.into_iter().collect());
    each("comment-regex", c.comment_regex.into_iter().collect());
    each("from", c.from.iter().map(ToString::to_string).collect());
    each(
        "min-gifter-level",
        c.min_gifter_level
            .map(|n| n.to_string())
            .into_iter()
            .collect(),
    );
    each("user", c.users);
    each(
        "min-likes",
        c.min_likes.map(|n| n.to_string()).into_iter().collect(),
    );
    out.join(" ")
}

fn cooldowns_text(r: &Rule) -> Vec<String> {
    let (rule_wide, per_viewer) = r.cooldown_text();
    let mut out = Vec::new();
    if let Some(d) = rule_wide {
        out.push(format!("cooldown {d}"));
    }
    if let Some(d) = per_viewer {
        out.push(format!("per-viewer cooldown {d}"));
    }
    out
}

/// A service's rules (its event configs included) as a table, in the order given.
pub fn print_rules(rules: &[Rule], slug: &str) {
    let mut t = Table::new(&[
        "NAME",
        "EVENT TYPE",
        "PRIORITY",
        "MODE",
        "WHEN FULL",
        "CONDITIONS",
        "COOLDOWN",
        "STREAK",
        "ACTION",
        "ENABLED",
    ]);
    for r in rules {
        t.row(vec![
            output::cell(&r.name, 32),
            r.event_type.to_string(),
            r.priority.to_string(),
            if r.is_async { "async" } else { "sync" }.into(),
            if r.is_discardable { "discard" } else { "keep" }.into(),
            output::cell(&conditions_text(r), 48),
            cooldowns_text(r).join(", "),
            if r.event_type == EventType::Gift {
                r.streak_policy.to_string()
            } else {
                "-".into()
            },
            r.action.clone().unwrap_or_else(|| "-".into()),
            output::yes_no(r.is_enabled),
        ]);
    }
    t.print(&format!(
        "No rules. `ctl rule add {slug} NAME --event GiftEvent` adds one."
    ));
}

/// The event `ctl rule test` reads: a captured event's JSON, where everything but the type
/// may be left out.
#[derive(Debug, Deserialize)]
struct TestEvent {
    event_type: EventType,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_unique_id: Option<String>,
    #[serde(default)]
    streak: Option<Streak>,
    #[serde(default)]
    data: serde_json::Value,
}

fn read_event(source: &str) -> anyhow::Result<CapturedEvent> {
    let text = if source == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the event from standard input")?;
        s
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| ModelError::Invalid(format!("cannot read the event file {source}: {e}")))?
    };
    let e: TestEvent = serde_json::from_str(&text).map_err(|e| {
        ModelError::Invalid(format!(
            "the event is not valid JSON of an event ({e}): give at least {{\"event_type\": \"GiftEvent\", \"data\": {{…}}}}"
        ))
    })?;
    Ok(CapturedEvent {
        event_type: e.event_type,
        msg_id: None,
        timestamp: Utc::now(),
        user_id: e.user_id,
        user_unique_id: e.user_unique_id,
        user_nickname: None,
        streak: e.streak,
        data: e.data,
        received_at: None,
    })
}

fn test(conn: &mut DbConn, slug: &str, source: &str, json: bool) -> anyhow::Result<()> {
    let event = read_event(source)?;
    let service = services::find(conn, slug)?;
    let verdicts = Engine::new(conn).explain_rules(service.id, &event)?;
    if json {
        return output::json(&verdicts);
    }
    let winner = verdicts.iter().find(|v| v.verdict == Verdict::Fires);
    match winner {
        Some(w) => outln!(
            "{}: rule {} fires (priority {}).",
            event.event_type,
            w.rule,
            w.priority
        ),
        None if verdicts.iter().any(|v| v.verdict == Verdict::CoolingDown) => outln!(
            "{}: every matching rule is cooling down: a discarded row (reason cooldown).",
            event.event_type
        ),
        None => outln!("{}: no rule of {slug} takes it.", event.event_type),
    }
    if !service.is_active {
        outln!(
            "(the service is inactive: it receives nothing until `ctl service activate {slug}`)"
        );
    }
    for v in &verdicts {
        outln!("  {:<24} {}", v.rule, verdict_text(v));
    }
    Ok(())
}

fn verdict_text(v: &RuleVerdict) -> String {
    match &v.verdict {
        Verdict::Fires => format!("fires (priority {})", v.priority),
        Verdict::Outranked { by } => format!("matches, but {by} comes first"),
        Verdict::CoolingDown => "matches, but is cooling down".into(),
        Verdict::NoMatch { why } => format!("no: {why}"),
        Verdict::OtherType { event_type } => format!("no: a {event_type} rule"),
        Verdict::Disabled => "no: disabled".into(),
    }
}
