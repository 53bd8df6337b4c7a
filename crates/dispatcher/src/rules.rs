//! Matching events against the services' trigger rules, in memory: the rule table (the
//! enabled rules of the active services, compiled once: regexes built, names lowercased) and
//! the checks of one rule against one event. Which rule wins, with cooldowns, is
//! [`RuleTable::choose`]; the cooldown state itself is [`crate::cooldown`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_models::rules::{self as model, Audience, Conditions, StreakPolicy};
use core_models::{CapturedEvent, DbConn, EventType, Priority, Rule, StreakStatus};
use serde_json::Value;

use crate::cooldown::{CooldownBook, NeededKeys};
use crate::error::EngineError;

/// One rule, ready to be checked against events.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: i64,
    pub name: String,
    pub priority: Priority,
    pub is_async: bool,
    pub is_discardable: bool,
    pub cooldown_ms: Option<i64>,
    pub user_cooldown_ms: Option<i64>,
    streak_end: bool,
    matcher: Matcher,
}

impl CompiledRule {
    fn compile(rule: &Rule) -> CompiledRule {
        CompiledRule {
            id: rule.id,
            name: rule.name.clone(),
            priority: rule.priority,
            is_async: rule.is_async,
            is_discardable: rule.is_discardable,
            cooldown_ms: rule.cooldown_ms.filter(|&ms| ms > 0),
            user_cooldown_ms: rule.user_cooldown_ms.filter(|&ms| ms > 0),
            streak_end: rule.streak_policy == StreakPolicy::End,
            matcher: Matcher::compile(&rule.parsed_conditions()),
        }
    }

    /// True when it has a cooldown of either kind.
    pub fn cools(&self) -> bool {
        self.cooldown_ms.is_some() || self.user_cooldown_ms.is_some()
    }

    /// Whether the event passes the streak policy and every condition; the first that does
    /// not hold otherwise.
    pub fn check(&self, event: &CapturedEvent) -> Result<(), Miss> {
        if self.streak_end
            && event
                .streak
                .as_ref()
                .is_some_and(|s| s.status != StreakStatus::End)
        {
            return Err(Miss::StreakStep);
        }
        self.matcher.check(event)
    }
}

/// Conditions with their texts prepared: lowercase names and handles, the regex built.
#[derive(Debug, Clone, Default)]
struct Matcher {
    gift_names: Vec<String>,
    gift_ids: Vec<i64>,
    min_diamonds: Option<i64>,
    min_count: Option<i64>,
    prefix: Option<String>,
    regex: Option<regex::Regex>,
    /// A stored regex that no longer compiles: the rule never matches.
    broken_regex: bool,
    from: Vec<Audience>,
    min_gifter_level: Option<i64>,
    users: Vec<String>,
    min_likes: Option<i64>,
}

/// Why a rule did not take an event (the first condition that failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// `--streak end` and the event is a combo step before the end.
    StreakStep,
    /// `--gift`: another gift.
    Gift(String),
    /// `--min-diamonds`: fewer.
    Diamonds(i64),
    /// `--min-count`: a shorter combo.
    Count(i64),
    /// `--comment-prefix` / `--comment-regex`: the comment does not match.
    Comment,
    /// `--from`: the viewer is none of those.
    From,
    /// `--min-gifter-level`: lower.
    GifterLevel(i64),
    /// `--user`: another viewer.
    User,
    /// `--min-likes`: fewer.
    Likes(i64),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::StreakStep => f.write_str("a combo step before its end (--streak end)"),
            Miss::Gift(g) => write!(f, "the gift is {g}, not one of --gift"),
            Miss::Diamonds(n) => write!(f, "{n} diamonds, below --min-diamonds"),
            Miss::Count(n) => write!(f, "a combo of {n}, below --min-count"),
            Miss::Comment => f.write_str("the comment does not match"),
            Miss::From => f.write_str("the viewer is none of --from"),
            Miss::GifterLevel(n) => write!(f, "gifter level {n}, below --min-gifter-level"),
            Miss::User => f.write_str("the viewer is none of --user"),
            Miss::Likes(n) => write!(f, "{n} likes, below --min-likes"),
        }
    }
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

impl Matcher {
    fn compile(c: &Conditions) -> Matcher {
        let lower = |list: &[String]| list.iter().map(|s| s.to_lowercase()).collect();
        let (regex, broken_regex) = match c.comment_regex.as_deref().map(model::compile_regex) {
            None => (None, false),
            Some(Ok(re)) => (Some(re), false),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a stored rule's regex does not compile: it never matches");
                (None, true)
            }
        };
        Matcher {
            gift_names: lower(&c.gifts),
            gift_ids: c.gifts.iter().filter_map(|g| g.parse().ok()).collect(),
            min_diamonds: c.min_diamonds,
            min_count: c.min_count,
            prefix: c.comment_prefix.as_deref().map(str::to_lowercase),
            regex,
            broken_regex,
            from: c.from.clone(),
            min_gifter_level: c.min_gifter_level,
            users: lower(&c.users),
            min_likes: c.min_likes,
        }
    }

    fn check(&self, event: &CapturedEvent) -> Result<(), Miss> {
        let data = &event.data;
        if !self.gift_names.is_empty() {
            let gift = data.get("gift").unwrap_or(&Value::Null);
            let name = gift.get("name").and_then(Value::as_str).unwrap_or("");
            let by_name = self.gift_names.iter().any(|g| g == &name.to_lowercase());
            let by_id = int(gift, "id").is_some_and(|id| self.gift_ids.contains(&id));
            if !by_name && !by_id {
                return Err(Miss::Gift(name.to_owned()));
            }
        }
        if let Some(min) = self.min_diamonds {
            let n = int(data, "total_diamonds").unwrap_or(0);
            if n < min {
                return Err(Miss::Diamonds(n));
            }
        }
        if let Some(min) = self.min_count {
            let n = int(data, "streak_total_count")
                .or_else(|| int(data, "repeat_count"))
                .unwrap_or(1);
            if n < min {
                return Err(Miss::Count(n));
            }
        }
        if self.prefix.is_some() || self.regex.is_some() || self.broken_regex {
            let comment = data.get("comment").and_then(Value::as_str).unwrap_or("");
            let prefix_ok = self
                .prefix
                .as_ref()
                .is_none_or(|p| comment.to_lowercase().starts_with(p.as_str()));
            let regex_ok =
                !self.broken_regex && self.regex.as_ref().is_none_or(|re| re.is_match(comment));
            if !prefix_ok || !regex_ok {
                return Err(Miss::Comment);
            }
        }
        let user = data.get("user").unwrap_or(&Value::Null);
        if !self.from.is_empty() && !self.from.iter().any(|a| is(user, *a)) {
            return Err(Miss::From);
        }
        if let Some(min) = self.min_gifter_level {
            let n = int(user, "gifter_level").unwrap_or(0);
            if n < min {
                return Err(Miss::GifterLevel(n));
            }
        }
        if !self.users.is_empty() {
            let handle = event.user_unique_id.as_deref().unwrap_or("").to_lowercase();
            if !self.users.contains(&handle) {
                return Err(Miss::User);
            }
        }
        if let Some(min) = self.min_likes {
            let n = int(data, "like_count").unwrap_or(0);
            if n < min {
                return Err(Miss::Likes(n));
            }
        }
        Ok(())
    }
}

/// Whether the event's `user` object is of this kind (the event_data contract's keys).
fn is(user: &Value, kind: Audience) -> bool {
    let role = int(user, "follow_role").unwrap_or(0);
    match kind {
        Audience::Follower => role >= 1 || flag(user, "is_follower"),
        Audience::Friend => role == 2,
        Audience::Subscriber => flag(user, "is_subscriber") || flag(user, "is_super_fan"),
        Audience::Moderator => flag(user, "is_moderator"),
        Audience::TopGifter => flag(user, "is_gift_giver"),
    }
}

/// What the rules make of one event for one service.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict<'t> {
    /// This rule fires: enqueue with its priority, mode and drop flag.
    Fire(&'t CompiledRule),
    /// Rules matched but every one is cooling down: a `discarded` row (reason `cooldown`)
    /// under the first of them.
    Cooling(&'t CompiledRule),
}

/// The enabled rules of the active services, by service, each type's in matching order
/// (highest priority first, then the one created first), and the streamers each scoped
/// service serves.
#[derive(Debug, Default)]
pub struct RuleTable {
    by_service: BTreeMap<i64, HashMap<EventType, Vec<CompiledRule>>>,
    /// The services scoped to some streamers (the others serve every streamer).
    scopes: BTreeMap<i64, Vec<String>>,
}

impl RuleTable {
    /// Loads and compiles the rules of these event types (every type when `None`).
    pub(crate) fn load(
        conn: &mut DbConn,
        types: Option<&[EventType]>,
    ) -> Result<RuleTable, EngineError> {
        let rules = model::load_enabled(conn, types)?;
        let mut table = RuleTable::of(&rules);
        table.scopes = core_models::scopes::all(conn)?;
        Ok(table)
    }

    /// Compiles these rules (already in matching order, as [`model::load_enabled`] gives
    /// them).
    pub(crate) fn of(rules: &[Rule]) -> RuleTable {
        let mut t = RuleTable::default();
        for r in rules {
            t.by_service
                .entry(r.service_id)
                .or_default()
                .entry(r.event_type)
                .or_default()
                .push(CompiledRule::compile(r));
        }
        t
    }

    /// The services serving `streamer` with a rule for any of these types, by id.
    pub(crate) fn services_for(&self, types: &[EventType], streamer: &str) -> Vec<i64> {
        self.by_service
            .iter()
            .filter(|(_, by_type)| types.iter().any(|t| by_type.contains_key(t)))
            .filter(|(id, _)| {
                self.scopes
                    .get(id)
                    .is_none_or(|streamers| core_models::scopes::serves(streamers, streamer))
            })
            .map(|(&id, _)| id)
            .collect()
    }

    /// A service's rules for a type, in matching order.
    pub(crate) fn candidates(&self, service_id: i64, ty: EventType) -> &[CompiledRule] {
        self.by_service
            .get(&service_id)
            .and_then(|m| m.get(&ty))
            .map_or(&[], Vec::as_slice)
    }

    /// The cooldown keys a batch may need: for each rule with a cooldown among the
    /// services' candidates, `""` (rule-wide) and the viewers of the events it matches (per
    /// viewer).
    pub(crate) fn cooldown_keys(&self, services: &[i64], events: &[&CapturedEvent]) -> NeededKeys {
        let mut keys = NeededKeys::new();
        for &service_id in services {
            for event in events {
                for rule in self.candidates(service_id, event.event_type) {
                    if !rule.cools() || rule.check(event).is_err() {
                        continue;
                    }
                    let of_rule = keys.entry(rule.id).or_default();
                    if rule.cooldown_ms.is_some() {
                        of_rule.insert(String::new());
                    }
                    if rule.user_cooldown_ms.is_some() {
                        of_rule.insert(viewer_key(event).to_owned());
                    }
                }
            }
        }
        keys
    }

    /// The winning rule of `service_id` for an event (see [`Verdict`]); `None` when no rule
    /// takes it. A rule that fires is recorded in `cooldowns` at `at`.
    pub(crate) fn choose<'t>(
        &'t self,
        service_id: i64,
        event: &CapturedEvent,
        at: chrono::NaiveDateTime,
        cooldowns: &mut CooldownBook,
    ) -> Option<Verdict<'t>> {
        let mut cooling = None;
        for rule in self.candidates(service_id, event.event_type) {
            if rule.check(event).is_err() {
                continue;
            }
            if rule.cools() {
                let viewer = viewer_key(event);
                if !cooldowns.ready(rule, viewer, at) {
                    cooling.get_or_insert(rule);
                    continue;
                }
                cooldowns.fire(rule, viewer, at);
            }
            return Some(Verdict::Fire(rule));
        }
        cooling.map(Verdict::Cooling)
    }
}

/// Who a per-viewer cooldown counts: the viewer's numeric id, else their handle.
pub(crate) fn viewer_key(event: &CapturedEvent) -> &str {
    event
        .user_id
        .as_deref()
        .or(event.user_unique_id.as_deref())
        .unwrap_or("")
}

/// The rule table kept in memory by a long-running dispatcher (the capture daemon),
/// reloaded when older than its age limit: conditions are checked in memory, with no query
/// per batch, and rule changes reach the capture within that limit.
#[derive(Debug)]
pub struct RuleCache {
    max_age: Duration,
    slot: Mutex<Option<(Instant, Arc<RuleTable>)>>,
}

impl RuleCache {
    /// A cache whose table is reloaded when older than `max_age`.
    pub fn new(max_age: Duration) -> RuleCache {
        RuleCache {
            max_age,
            slot: Mutex::new(None),
        }
    }

    /// The table, reloaded first if it is missing or too old.
    pub(crate) fn table(&self, conn: &mut DbConn) -> Result<Arc<RuleTable>, EngineError> {
        if let Ok(slot) = self.slot.lock() {
            if let Some((at, table)) = slot.as_ref() {
                if at.elapsed() < self.max_age {
                    return Ok(Arc::clone(table));
                }
            }
        }
        let table = Arc::new(RuleTable::load(conn, None)?);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((Instant::now(), Arc::clone(&table)));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{DateTime, TimeDelta};
    use core_models::{Streak, StreakPolicy};
    use serde_json::json;

    fn rule(id: i64, name: &str, ty: EventType, priority: i64, conditions: Value) -> Rule {
        let t = DateTime::UNIX_EPOCH.naive_utc();
        Rule {
            id,
            service_id: 1,
            name: name.into(),
            event_type: ty,
            is_enabled: true,
            priority: Priority::new(priority).expect("1 to 10"),
            is_async: false,
            is_discardable: true,
            conditions: Some(conditions.to_string()),
            cooldown_ms: None,
            user_cooldown_ms: None,
            streak_policy: StreakPolicy::Each,
            action: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn event(ty: EventType, user: &str, data: Value) -> CapturedEvent {
        CapturedEvent {
            event_type: ty,
            msg_id: Some(1),
            timestamp: DateTime::UNIX_EPOCH,
            user_id: Some(format!("id-{user}")),
            user_unique_id: Some(user.into()),
            user_nickname: None,
            streak: None,
            data,
            received_at: None,
        }
    }

    fn winner(table: &RuleTable, e: &CapturedEvent, book: &mut CooldownBook, at_s: i64) -> String {
        let at = DateTime::UNIX_EPOCH.naive_utc() + TimeDelta::seconds(at_s);
        match table.choose(1, e, at, book) {
            Some(Verdict::Fire(r)) => r.name.clone(),
            Some(Verdict::Cooling(r)) => format!("cooling:{}", r.name),
            None => "none".into(),
        }
    }

    #[test]
    fn the_highest_priority_matching_rule_wins_and_ties_go_to_the_first_created() {
        let table = RuleTable::of(&[
            rule(
                3,
                "lion",
                EventType::Gift,
                9,
                json!({"gifts": ["lion", "6369"]}),
            ),
            rule(1, "GiftEvent", EventType::Gift, 5, json!(null)),
            rule(2, "big", EventType::Gift, 5, json!({"min_diamonds": 100})),
        ]);
        let mut book = CooldownBook::default();
        let gift = |name: &str, id: i64, diamonds: i64| {
            event(
                EventType::Gift,
                "bob",
                json!({"gift": {"name": name, "id": id}, "total_diamonds": diamonds}),
            )
        };
        assert_eq!(
            winner(&table, &gift("Lion", 6369, 29_999), &mut book, 0),
            "lion"
        );
        assert_eq!(
            winner(&table, &gift("Renamed", 6369, 1), &mut book, 0),
            "lion",
            "by id"
        );
        // big and GiftEvent tie at 5: GiftEvent was created first.
        assert_eq!(
            winner(&table, &gift("Galaxy", 11046, 1000), &mut book, 0),
            "GiftEvent"
        );
        let comment = event(EventType::Comment, "bob", json!({"comment": "hi"}));
        assert_eq!(winner(&table, &comment, &mut book, 0), "none");
    }

    #[test]
    fn each_condition_checks_what_the_event_data_says() {
        let c = |conditions: Value, ty: EventType, data: Value, user: &str| {
            let r = CompiledRule::compile(&rule(1, "r", ty, 5, conditions));
            r.check(&event(ty, user, data))
        };
        use EventType::*;
        assert_eq!(
            c(
                json!({"comment_prefix": "!JUMP"}),
                Comment,
                json!({"comment": "!jump now"}),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"comment_prefix": "!jump"}),
                Comment,
                json!({"comment": "jump!"}),
                "a"
            ),
            Err(Miss::Comment)
        );
        assert_eq!(
            c(
                json!({"comment_regex": "^!(duck|down)\\b"}),
                Comment,
                json!({"comment": "!down we go"}),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"comment_regex": "^!(duck|down)\\b"}),
                Comment,
                json!({"comment": "!downward"}),
                "a"
            ),
            Err(Miss::Comment)
        );
        assert_eq!(
            c(
                json!({"min_count": 10}),
                Gift,
                json!({"streak_total_count": 9}),
                "a"
            ),
            Err(Miss::Count(9))
        );
        assert_eq!(
            c(
                json!({"min_count": 10}),
                Gift,
                json!({"streak_total_count": 10}),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"min_likes": 10}),
                Like,
                json!({"like_count": 15}),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"min_likes": 10}),
                Like,
                json!({"like_count": 3}),
                "a"
            ),
            Err(Miss::Likes(3))
        );
        assert_eq!(
            c(json!({"users": ["Alice"]}), Join, json!({}), "alice"),
            Ok(())
        );
        assert_eq!(
            c(json!({"users": ["Alice"]}), Join, json!({}), "bob"),
            Err(Miss::User)
        );
        let user = |u: Value| json!({"user": u});
        assert_eq!(
            c(
                json!({"from": ["follower"]}),
                Join,
                user(json!({"follow_role": 1})),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"from": ["friend"]}),
                Join,
                user(json!({"follow_role": 1})),
                "a"
            ),
            Err(Miss::From)
        );
        assert_eq!(
            c(
                json!({"from": ["friend", "moderator"]}),
                Join,
                user(json!({"is_moderator": true})),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"from": ["subscriber"]}),
                Join,
                user(json!({"is_super_fan": true})),
                "a"
            ),
            Ok(())
        );
        assert_eq!(
            c(
                json!({"from": ["top-gifter"]}),
                Join,
                user(json!({"is_gift_giver": false})),
                "a"
            ),
            Err(Miss::From)
        );
        assert_eq!(
            c(
                json!({"min_gifter_level": 20}),
                Join,
                user(json!({"gifter_level": 19})),
                "a"
            ),
            Err(Miss::GifterLevel(19))
        );
    }

    #[test]
    fn streak_end_takes_combo_ends_and_single_gifts_only() {
        let mut r = rule(1, "combo", EventType::Gift, 5, json!(null));
        r.streak_policy = StreakPolicy::End;
        let r = CompiledRule::compile(&r);
        let mut e = event(EventType::Gift, "bob", json!({}));
        assert_eq!(r.check(&e), Ok(()), "a non-streakable gift is its own end");
        for (status, ok) in [
            (StreakStatus::Start, false),
            (StreakStatus::Continue, false),
            (StreakStatus::End, true),
        ] {
            e.streak = Some(Streak {
                id: "s".into(),
                status,
            });
            assert_eq!(r.check(&e).is_ok(), ok, "{status}");
        }
    }

    #[test]
    fn cooling_rules_give_way_to_the_next_and_all_cooling_is_a_cooldown_verdict() {
        let mut chat = rule(
            1,
            "chat-jump",
            EventType::Comment,
            7,
            json!({"comment_prefix": "!jump"}),
        );
        chat.user_cooldown_ms = Some(60_000);
        let mut any = rule(2, "any", EventType::Comment, 3, json!(null));
        any.cooldown_ms = Some(10_000);
        let table = RuleTable::of(&[chat, any]);
        let mut book = CooldownBook::default();
        let say = |user: &str| event(EventType::Comment, user, json!({"comment": "!jump"}));
        assert_eq!(winner(&table, &say("alice"), &mut book, 0), "chat-jump");
        // alice again: her chat-jump cools, `any` takes it (and starts its own cooldown).
        assert_eq!(winner(&table, &say("alice"), &mut book, 1), "any");
        assert_eq!(
            winner(&table, &say("bob"), &mut book, 2),
            "chat-jump",
            "per viewer"
        );
        assert_eq!(
            winner(&table, &say("alice"), &mut book, 5),
            "cooling:chat-jump"
        );
        assert_eq!(winner(&table, &say("alice"), &mut book, 11), "any");
        assert_eq!(winner(&table, &say("alice"), &mut book, 60), "chat-jump");
    }
}
