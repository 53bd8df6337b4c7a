//! Cooldowns, with the database as the truth: `rule_cooldowns` holds when each rule last
//! fired, rule-wide (viewer `''`) and per viewer. A batch reads the rows it may need (only
//! rules that have a cooldown, only the viewers of the events they match), decides in memory in
//! event order, and writes the firings back in the transaction that enqueues, under the
//! services' dispatch lock (see the crate docs' lock order): two capture daemons on one
//! database, or a capture restarted, see each other's firings.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{NaiveDateTime, TimeDelta};
use core_models::schema::rule_cooldowns as rc;
use core_models::stmt::{cacheable_rows, padded, Cached};
use core_models::DbConn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::error::EngineError;
use crate::rules::CompiledRule;

/// Keys per `IN (…)` list.
const IN_CHUNK: usize = 500;
/// Rows per multi-row upsert (3 columns).
const UPSERT_CHUNK: usize = 1000;

/// The keys a batch may need: per cooling rule, `""` (rule-wide) and the viewers of the
/// events the rule matches.
pub(crate) type NeededKeys = BTreeMap<i64, BTreeSet<String>>;

/// The last firing of the batch's cooling rules, as read, and what the batch fired.
#[derive(Debug, Default)]
pub(crate) struct CooldownBook {
    /// By rule, then viewer (`""`: rule-wide).
    last: HashMap<i64, HashMap<String, NaiveDateTime>>,
    /// Keys fired by this batch (their new time is in `last`).
    fired: HashSet<(i64, String)>,
}

/// A firing to write.
struct CooldownRow {
    rule_id: i64,
    viewer: String,
    fired_at: NaiveDateTime,
}

impl CooldownBook {
    /// Reads the cooldown rows of the keys the batch may need: one query per cooling rule
    /// (its matching events' viewers only), nothing when no rule cools. Reading every
    /// (rule, viewer) pair of the batch instead cost an index probe per pair.
    pub(crate) fn load(
        conn: &mut DbConn,
        needed: &NeededKeys,
    ) -> Result<CooldownBook, EngineError> {
        let mut book = CooldownBook::default();
        for (&rule_id, viewers) in needed {
            let viewers: Vec<&str> = viewers.iter().map(String::as_str).collect();
            for chunk in viewers.chunks(IN_CHUNK) {
                let rows = with_conn_rows(conn, rule_id, chunk)?;
                book.last.entry(rule_id).or_default().extend(rows);
            }
        }
        Ok(book)
    }

    /// True when the rule may fire for `viewer` at `at`: both of its cooldowns (those it has)
    /// are over.
    pub(crate) fn ready(&self, rule: &CompiledRule, viewer: &str, at: NaiveDateTime) -> bool {
        let of_rule = self.last.get(&rule.id);
        let over = |key: &str, ms: Option<i64>| {
            ms.is_none_or(|ms| {
                of_rule
                    .and_then(|m| m.get(key))
                    .is_none_or(|&last| at >= last + TimeDelta::milliseconds(ms))
            })
        };
        over("", rule.cooldown_ms) && over(viewer, rule.user_cooldown_ms)
    }

    /// Records that the rule fired for `viewer` at `at`.
    pub(crate) fn fire(&mut self, rule: &CompiledRule, viewer: &str, at: NaiveDateTime) {
        let of_rule = self.last.entry(rule.id).or_default();
        if rule.cooldown_ms.is_some() {
            of_rule.insert(String::new(), at);
            self.fired.insert((rule.id, String::new()));
        }
        if rule.user_cooldown_ms.is_some() {
            of_rule.insert(viewer.to_owned(), at);
            self.fired.insert((rule.id, viewer.to_owned()));
        }
    }

    /// Writes the batch's firings: one multi-row upsert. The rows read are the truth only
    /// because the dispatch lock is held: no other dispatcher of these services can fire
    /// their rules before this transaction ends.
    pub(crate) fn write(&self, conn: &mut DbConn) -> Result<(), EngineError> {
        let mut rows: Vec<CooldownRow> = self
            .fired
            .iter()
            .filter_map(|(rule_id, viewer)| {
                Some(CooldownRow {
                    rule_id: *rule_id,
                    viewer: viewer.clone(),
                    fired_at: *self.last.get(rule_id)?.get(viewer)?,
                })
            })
            .collect();
        // One order for every writer's index entries.
        rows.sort_unstable_by(|a, b| (a.rule_id, &a.viewer).cmp(&(b.rule_id, &b.viewer)));
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let upsert = match conn {
                DbConn::Mysql(_) => "ON DUPLICATE KEY UPDATE fired_at = VALUES(fired_at)",
                DbConn::Sqlite(_) => {
                    "ON CONFLICT (rule_id, viewer) DO UPDATE SET fired_at = excluded.fired_at"
                }
            };
            let sql = format!(
                "INSERT INTO rule_cooldowns (rule_id, viewer, fired_at) VALUES {values} {upsert}"
            );
            let keep = cacheable_rows(chunk.len(), UPSERT_CHUNK);
            core_models::with_conn!(conn, |c| {
                let mut q = diesel::sql_query(&sql).into_boxed();
                for r in chunk {
                    q = q
                        .bind::<BigInt, _>(r.rule_id)
                        .bind::<Text, _>(&r.viewer)
                        .bind::<Timestamp, _>(r.fired_at);
                }
                Cached::when(keep, q).execute(c)
            })?;
        }
        Ok(())
    }
}

fn with_conn_rows(
    conn: &mut DbConn,
    rule_id: i64,
    viewers: &[&str],
) -> Result<Vec<(String, NaiveDateTime)>, EngineError> {
    let viewers = padded(viewers);
    Ok(core_models::with_conn!(conn, |c| Cached::new(
        rc::table
            .filter(rc::rule_id.eq(rule_id))
            .filter(rc::viewer.eq_any(&viewers))
            .select((rc::viewer, rc::fired_at))
    )
    .load(c))?)
}
