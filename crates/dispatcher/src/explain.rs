//! Why a rule would or would not take an event (`ctl rule test`): the matching of
//! [`crate::rules`] run on one event, every rule of the service answered, nothing written.

use chrono::NaiveDateTime;
use core_models::rules as model;
use core_models::{CapturedEvent, DbConn, EventType, Priority};
use serde::Serialize;

use crate::cooldown::CooldownBook;
use crate::error::EngineError;
use crate::rules::{viewer_key, CompiledRule, Miss, RuleTable};

/// What one rule makes of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// It wins: the event would be enqueued under it.
    Fires,
    /// It matches, but a rule before it in matching order wins.
    Outranked {
        /// The winner.
        by: String,
    },
    /// It matches but is cooling down.
    CoolingDown,
    /// A condition does not hold.
    NoMatch {
        /// Which, and what the event has.
        why: String,
    },
    /// It matches another event type.
    OtherType {
        /// Its type.
        event_type: EventType,
    },
    /// It is disabled.
    Disabled,
}

/// One rule and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleVerdict {
    /// The rule's name.
    pub rule: String,
    /// Its priority.
    pub priority: Priority,
    /// What it makes of the event.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Every rule of the service, in matching order, with its verdict on `event` at `at`
/// (cooldowns as the database has them).
pub(crate) fn explain(
    conn: &mut DbConn,
    service_id: i64,
    event: &CapturedEvent,
    at: NaiveDateTime,
) -> Result<Vec<RuleVerdict>, EngineError> {
    let rules = model::list(conn, service_id)?;
    let enabled: Vec<_> = rules.iter().filter(|r| r.is_enabled).cloned().collect();
    let table = RuleTable::of(&enabled);
    let candidates = table.candidates(service_id, event.event_type);
    let book = CooldownBook::load(conn, &table.cooldown_keys(&[service_id], &[event]))?;
    let mut winner: Option<&CompiledRule> = None;
    let mut out = Vec::with_capacity(rules.len());
    // The event's type first, in matching order; then the others.
    for rule in candidates {
        let verdict = match (rule.check(event), winner) {
            (Err(miss), _) => no_match(&miss),
            (Ok(()), Some(w)) => Verdict::Outranked { by: w.name.clone() },
            (Ok(()), None) if rule.cools() && !book.ready(rule, viewer_key(event), at) => {
                Verdict::CoolingDown
            }
            (Ok(()), None) => {
                winner = Some(rule);
                Verdict::Fires
            }
        };
        out.push(RuleVerdict {
            rule: rule.name.clone(),
            priority: rule.priority,
            verdict,
        });
    }
    for rule in &rules {
        let verdict = if !rule.is_enabled {
            Verdict::Disabled
        } else if rule.event_type != event.event_type {
            Verdict::OtherType {
                event_type: rule.event_type,
            }
        } else {
            continue;
        };
        out.push(RuleVerdict {
            rule: rule.name.clone(),
            priority: rule.priority,
            verdict,
        });
    }
    Ok(out)
}

fn no_match(miss: &Miss) -> Verdict {
    Verdict::NoMatch {
        why: miss.to_string(),
    }
}
