//! Cooldowns, with the database as the truth: `rule_cooldowns` holds when each rule last
//! fired, rule-wide (viewer `''`) and per viewer. A batch reads the rows of the rules it may
//! fire (only rules that have a cooldown, only the batch's viewers), decides in memory in
//! event order, and writes the firings back in the transaction that enqueues, under the
//! services' dispatch lock (see the crate docs' lock order): two capture daemons on one
//! database, or a capture restarted, see each other's firings.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDateTime, TimeDelta};
use core_models::schema::rule_cooldowns as rc;
use core_models::{CapturedEvent, DbConn};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::error::EngineError;
use crate::rules::{viewer_key, CompiledRule};

/// Keys per `IN (…)` list.
const IN_CHUNK: usize = 500;
/// Rows per multi-row upsert (3 columns).
const UPSERT_CHUNK: usize = 1000;

/// The last firing of the batch's cooling rules, as read, and what the batch fired.
#[derive(Debug, Default)]
pub(crate) struct CooldownBook {
    last: HashMap<(i64, String), NaiveDateTime>,
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
    /// Reads the cooldown rows of `rule_ids` for the rule-wide key and the batch's viewers.
    /// Nothing is read when no rule cools.
    pub(crate) fn load(
        conn: &mut DbConn,
        rule_ids: &[i64],
        events: &[&CapturedEvent],
    ) -> Result<CooldownBook, EngineError> {
        let mut book = CooldownBook::default();
        if rule_ids.is_empty() {
            return Ok(book);
        }
        let mut viewers: Vec<&str> = events.iter().map(|e| viewer_key(e)).collect();
        viewers.push("");
        viewers.sort_unstable();
        viewers.dedup();
        for chunk in viewers.chunks(IN_CHUNK) {
            let rows: Vec<(i64, String, NaiveDateTime)> = with_conn_rows(conn, rule_ids, chunk)?;
            book.last
                .extend(rows.into_iter().map(|(r, v, t)| ((r, v), t)));
        }
        Ok(book)
    }

    /// True when the rule may fire for `viewer` at `at`: both of its cooldowns (those it has)
    /// are over.
    pub(crate) fn ready(&self, rule: &CompiledRule, viewer: &str, at: NaiveDateTime) -> bool {
        let over = |key: &str, ms: Option<i64>| {
            ms.is_none_or(|ms| {
                self.last
                    .get(&(rule.id, key.to_owned()))
                    .is_none_or(|&last| at >= last + TimeDelta::milliseconds(ms))
            })
        };
        over("", rule.cooldown_ms) && over(viewer, rule.user_cooldown_ms)
    }

    /// Records that the rule fired for `viewer` at `at`.
    pub(crate) fn fire(&mut self, rule: &CompiledRule, viewer: &str, at: NaiveDateTime) {
        let mut keys = Vec::with_capacity(2);
        if rule.cooldown_ms.is_some() {
            keys.push((rule.id, String::new()));
        }
        if rule.user_cooldown_ms.is_some() {
            keys.push((rule.id, viewer.to_owned()));
        }
        for key in keys {
            self.last.insert(key.clone(), at);
            self.fired.insert(key);
        }
    }

    /// Writes the batch's firings: one multi-row upsert. The rows read are the truth only
    /// because the dispatch lock is held: no other dispatcher of these services can fire
    /// their rules before this transaction ends.
    pub(crate) fn write(&self, conn: &mut DbConn) -> Result<(), EngineError> {
        let mut rows: Vec<CooldownRow> = self
            .fired
            .iter()
            .filter_map(|key| {
                Some(CooldownRow {
                    rule_id: key.0,
                    viewer: key.1.clone(),
                    fired_at: *self.last.get(key)?,
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
            core_models::with_conn!(conn, |c| {
                let mut q = diesel::sql_query(&sql).into_boxed();
                for r in chunk {
                    q = q
                        .bind::<BigInt, _>(r.rule_id)
                        .bind::<Text, _>(&r.viewer)
                        .bind::<Timestamp, _>(r.fired_at);
                }
                q.execute(c)
            })?;
        }
        Ok(())
    }
}

fn with_conn_rows(
    conn: &mut DbConn,
    rule_ids: &[i64],
    viewers: &[&str],
) -> Result<Vec<(i64, String, NaiveDateTime)>, EngineError> {
    Ok(core_models::with_conn!(conn, |c| rc::table
        .filter(rc::rule_id.eq_any(rule_ids))
        .filter(rc::viewer.eq_any(viewers))
        .select((rc::rule_id, rc::viewer, rc::fired_at))
        .load(c))?)
}
