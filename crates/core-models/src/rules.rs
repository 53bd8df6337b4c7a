//! Trigger rules: a service's event configs grown into rules (issue 15). A rule has a name
//! unique in its service, an event type, priority, mode and drop flag, and optionally
//! conditions, cooldowns, a streak policy and an action. Today's configs are the rules
//! without conditions named after their event type (`ctl event-config` edits those).
//!
//! This module validates and stores rules; matching them against events is the queue
//! engine's (`dispatcher`), which reads them through [`load_enabled`].

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;
use events::string_enum;
use serde::{Deserialize, Serialize, Serializer};

use crate::db::DbConn;
use crate::error::{ModelError, ModelResult};
use crate::event::EventType;
use crate::models::{now, Rule};
use crate::schema::{service_event_configs as sec, services as sv};
use crate::services;
use crate::text::clean_line;
use crate::validate::Priority;
use crate::with_conn;

string_enum! {
    /// Which steps of a gift combo a rule takes.
    #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow, Default)]
    #[diesel(sql_type = diesel::sql_types::Text)]
    StreakPolicy, "streak policy" {
        /// Every combo step (the seed's behaviour).
        #[default]
        Each => "each",
        /// Only the combo's end, with its real total (a non-streakable gift is its own end).
        End => "end",
    }
}

string_enum! {
    /// Who the acting viewer is to the streamer (`--from`).
    Audience, "viewer kind" {
        /// Follows the streamer (`follow_role` ≥ 1, or `is_follower`).
        Follower => "follower",
        /// Follows and is followed back (`follow_role` 2).
        Friend => "friend",
        /// Subscribes to the streamer (`is_subscriber` or `is_super_fan`).
        Subscriber => "subscriber",
        /// A moderator of the room (`is_moderator`).
        Moderator => "moderator",
        /// Has sent the streamer gifts (`is_gift_giver`).
        TopGifter => "top-gifter" | "top_gifter",
    }
}

/// What must hold of an event for a rule to match: every condition given (an empty list or
/// `None` is no condition). Stored as a JSON object in `service_event_configs.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conditions {
    /// GiftEvent: the gift's name (any case) or numeric id; any of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gifts: Vec<String>,
    /// GiftEvent: at least this many diamonds (`total_diamonds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_diamonds: Option<i64>,
    /// GiftEvent: a combo of at least this many (`streak_total_count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_count: Option<i64>,
    /// CommentEvent: the comment starts with this text, in any letter case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_prefix: Option<String>,
    /// CommentEvent: the comment matches this regular expression (Rust `regex` syntax).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_regex: Option<String>,
    /// The viewer is any of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Audience>,
    /// The viewer's gifter level is at least this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_gifter_level: Option<i64>,
    /// The viewer is one of these @handles (without `@`, any case).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// LikeEvent: a batch of at least this many likes (`like_count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_likes: Option<i64>,
}

impl Conditions {
    /// True when there is no condition at all.
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Parses the stored JSON (`None` or empty: no conditions).
    pub fn from_stored(text: Option<&str>) -> ModelResult<Conditions> {
        match text.map(str::trim) {
            None | Some("") => Ok(Conditions::default()),
            Some(t) => serde_json::from_str(t).map_err(|e| {
                ModelError::Invalid(format!("stored rule conditions are not valid: {e}"))
            }),
        }
    }

    /// The JSON stored for these conditions (`None` when there are none).
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// These conditions, with every condition `other` gives replacing the same one here.
    pub fn overridden_by(&self, other: &Conditions) -> Conditions {
        fn pick<T: Clone>(mine: &Option<T>, theirs: &Option<T>) -> Option<T> {
            theirs.clone().or_else(|| mine.clone())
        }
        fn pick_vec<T: Clone>(mine: &[T], theirs: &[T]) -> Vec<T> {
            if theirs.is_empty() { mine } else { theirs }.to_vec()
        }
        Conditions {
            gifts: pick_vec(&self.gifts, &other.gifts),
            min_diamonds: pick(&self.min_diamonds, &other.min_diamonds),
            min_count: pick(&self.min_count, &other.min_count),
            comment_prefix: pick(&self.comment_prefix, &other.comment_prefix),
            comment_regex: pick(&self.comment_regex, &other.comment_regex),
            from: pick_vec(&self.from, &other.from),
            min_gifter_level: pick(&self.min_gifter_level, &other.min_gifter_level),
            users: pick_vec(&self.users, &other.users),
            min_likes: pick(&self.min_likes, &other.min_likes),
        }
    }

    /// Cleans the texts (handles without `@`, empty texts dropped) and checks that every
    /// condition applies to `event_type`, numbers are not negative and the regex compiles.
    pub fn checked(mut self, event_type: EventType) -> ModelResult<Conditions> {
        let clean_list = |list: Vec<String>, strip_at: bool| -> Vec<String> {
            list.iter()
                .map(|s| {
                    let s = clean_line(s.trim(), 255);
                    if strip_at {
                        s.trim_start_matches('@').to_owned()
                    } else {
                        s
                    }
                })
                .filter(|s| !s.is_empty())
                .collect()
        };
        self.gifts = clean_list(self.gifts, false);
        self.users = clean_list(self.users, true);
        self.comment_prefix = self
            .comment_prefix
            .map(|p| clean_line(&p, 255))
            .filter(|p| !p.is_empty());
        self.from.dedup();
        let only = |given: bool, flag: &str, ty: EventType| -> ModelResult<()> {
            if given && event_type != ty {
                return Err(ModelError::Invalid(format!(
                    "{flag} applies to {ty} rules only, not to {event_type}"
                )));
            }
            Ok(())
        };
        only(!self.gifts.is_empty(), "--gift", EventType::Gift)?;
        only(
            self.min_diamonds.is_some(),
            "--min-diamonds",
            EventType::Gift,
        )?;
        only(self.min_count.is_some(), "--min-count", EventType::Gift)?;
        only(
            self.comment_prefix.is_some(),
            "--comment-prefix",
            EventType::Comment,
        )?;
        only(
            self.comment_regex.is_some(),
            "--comment-regex",
            EventType::Comment,
        )?;
        only(self.min_likes.is_some(), "--min-likes", EventType::Like)?;
        if self.comment_prefix.is_some() && self.comment_regex.is_some() {
            return Err(ModelError::Invalid(
                "give --comment-prefix or --comment-regex, not both".into(),
            ));
        }
        for (flag, n) in [
            ("--min-diamonds", self.min_diamonds),
            ("--min-count", self.min_count),
            ("--min-gifter-level", self.min_gifter_level),
            ("--min-likes", self.min_likes),
        ] {
            if n.is_some_and(|n| n < 0) {
                return Err(ModelError::Invalid(format!("{flag} must not be negative")));
            }
        }
        if let Some(re) = &self.comment_regex {
            compile_regex(re)?;
        }
        Ok(self)
    }
}

/// Compiles a `--comment-regex`, case-sensitive unless it says `(?i)`, with a size limit so
/// a hostile pattern cannot eat the capture daemon's memory.
pub fn compile_regex(re: &str) -> ModelResult<regex::Regex> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let last = first.lines().last().unwrap_or("invalid").trim();
            let line = last.trim_start_matches("error: ").to_owned();
            ModelError::Invalid(format!("invalid --comment-regex '{re}': {line}"))
        })
}

/// Serialises the stored conditions as a JSON object (`{}` when none), for `--json` output.
pub fn serialize_conditions<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let c = Conditions::from_stored(text.as_deref()).unwrap_or_default();
    c.serialize(s)
}

/// A cooldown: a positive duration, given as `500ms`, `30s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown(i64);

impl Cooldown {
    /// From milliseconds (at least 1).
    pub fn from_ms(ms: i64) -> ModelResult<Cooldown> {
        if ms <= 0 {
            return Err(ModelError::Invalid(format!(
                "a cooldown of {ms} ms is invalid: give a positive duration such as 30s"
            )));
        }
        Ok(Cooldown(ms))
    }

    /// In milliseconds.
    pub fn ms(self) -> i64 {
        self.0
    }
}

impl FromStr for Cooldown {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ModelError::Invalid(format!(
                "invalid duration '{s}': give a positive whole number with ms, s, m or h (e.g. 30s, 2m)"
            ))
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = t.split_at(split);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let factor = match unit.trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(factor).ok_or_else(bad)?;
        if ms <= 0 {
            return Err(bad());
        }
        Cooldown::from_ms(ms)
    }
}

impl fmt::Display for Cooldown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_ms(self.0, f)
    }
}

/// Writes milliseconds the way durations are given: `2m`, `30s`, `1500ms`.
fn fmt_ms(ms: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (unit, n) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % n == 0 {
            return write!(f, "{}{unit}", ms / n);
        }
    }
    write!(f, "{ms}ms")
}

/// Checks a rule name: 1 to 64 characters, no control characters, trimmed.
pub fn check_name(name: &str) -> ModelResult<String> {
    let cleaned = clean_line(name.trim(), 64);
    if cleaned.is_empty() || cleaned.chars().count() < name.trim().chars().count() {
        return Err(ModelError::Invalid(format!(
            "invalid rule name '{name}': use 1 to 64 characters without control characters"
        )));
    }
    Ok(cleaned)
}

fn check_action(action: Option<&str>) -> Option<String> {
    action
        .map(|a| clean_line(a.trim(), 255))
        .filter(|a| !a.is_empty())
}

/// Everything needed to create a rule; `None` takes the default (priority 5, SYNC,
/// discardable, enabled, streak `each`).
#[derive(Debug, Clone, Default)]
pub struct NewRule {
    /// Unique within the service.
    pub name: String,
    /// The event type it matches.
    pub event_type: Option<EventType>,
    /// The fields every rule has (priority, mode, drop flag, enabled).
    pub basics: Basics,
    /// Its conditions.
    pub conditions: Conditions,
    /// Per-rule cooldown.
    pub cooldown: Option<Cooldown>,
    /// Per-rule, per-viewer cooldown.
    pub user_cooldown: Option<Cooldown>,
    /// GiftEvent rules only.
    pub streak: Option<StreakPolicy>,
    /// Handed to the service.
    pub action: Option<String>,
}

/// Priority, mode, drop flag and enabled: `None` leaves each as it is (or at its default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Basics {
    /// New priority.
    pub priority: Option<Priority>,
    /// ASYNC (`true`) or SYNC (`false`).
    pub is_async: Option<bool>,
    /// Discardable (`true`) or kept (`false`).
    pub is_discardable: Option<bool>,
    /// Enabled or disabled.
    pub is_enabled: Option<bool>,
}

/// Changes to a rule; `None` (or `false`, an empty [`Conditions`]) leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RuleChanges {
    /// A new event type.
    pub event_type: Option<EventType>,
    /// Priority, mode, drop flag, enabled.
    pub basics: Basics,
    /// Drop every condition first (then add those of `conditions`).
    pub clear_conditions: bool,
    /// Conditions to set (each given one replaces the same one).
    pub conditions: Conditions,
    /// `Some(None)` removes the cooldown.
    pub cooldown: Option<Option<Cooldown>>,
    /// `Some(None)` removes the per-viewer cooldown.
    pub user_cooldown: Option<Option<Cooldown>>,
    /// A new streak policy.
    pub streak: Option<StreakPolicy>,
    /// `Some(None)` removes the action.
    pub action: Option<Option<String>>,
}

/// A rule's stored values, checked as a whole: what is inserted or written back.
struct RuleValues {
    name: String,
    event_type: EventType,
    priority: Priority,
    is_async: bool,
    is_discardable: bool,
    is_enabled: bool,
    conditions: Conditions,
    cooldown_ms: Option<i64>,
    user_cooldown_ms: Option<i64>,
    streak_policy: StreakPolicy,
    action: Option<String>,
}

impl RuleValues {
    /// The whole rule's checks: conditions that apply to its type, a streak policy on gifts
    /// only.
    fn checked(mut self) -> ModelResult<RuleValues> {
        self.conditions = self.conditions.checked(self.event_type)?;
        Ok(self)
    }

    fn of_new(new: &NewRule) -> ModelResult<RuleValues> {
        let event_type = new.event_type.ok_or_else(|| {
            ModelError::Invalid("a rule needs an event type: pass --event TYPE".into())
        })?;
        check_streak(new.streak, event_type)?;
        let name = check_name(&new.name)?;
        // `ctl event-config TYPE` edits the rule named TYPE: that name is TYPE's.
        if let Some(named) = EventType::ALL.iter().find(|t| t.as_str() == name) {
            if *named != event_type {
                return Err(ModelError::Invalid(format!(
                    "the rule name '{name}' is kept for the {name} config: choose another name"
                )));
            }
        }
        RuleValues {
            name,
            event_type,
            priority: new.basics.priority.unwrap_or(Priority::DEFAULT),
            is_async: new.basics.is_async.unwrap_or(false),
            is_discardable: new.basics.is_discardable.unwrap_or(true),
            is_enabled: new.basics.is_enabled.unwrap_or(true),
            conditions: new.conditions.clone(),
            cooldown_ms: new.cooldown.map(Cooldown::ms),
            user_cooldown_ms: new.user_cooldown.map(Cooldown::ms),
            streak_policy: new.streak.unwrap_or_default(),
            action: check_action(new.action.as_deref()),
        }
        .checked()
    }

    fn changed(rule: &Rule, ch: &RuleChanges) -> ModelResult<RuleValues> {
        let event_type = ch.event_type.unwrap_or(rule.event_type);
        if event_type != rule.event_type && rule.name == rule.event_type.as_str() {
            return Err(ModelError::Invalid(format!(
                "the rule {} is the {} config: its event type cannot change (add a rule instead)",
                rule.name, rule.event_type
            )));
        }
        let streak_policy = match ch.streak {
            Some(p) => {
                check_streak(Some(p), event_type)?;
                p
            }
            None if event_type != EventType::Gift => StreakPolicy::Each,
            None => rule.streak_policy,
        };
        let base = if ch.clear_conditions {
            Conditions::default()
        } else {
            Conditions::from_stored(rule.conditions.as_deref()).unwrap_or_default()
        };
        let b = ch.basics;
        RuleValues {
            name: rule.name.clone(),
            event_type,
            priority: b.priority.unwrap_or(rule.priority),
            is_async: b.is_async.unwrap_or(rule.is_async),
            is_discardable: b.is_discardable.unwrap_or(rule.is_discardable),
            is_enabled: b.is_enabled.unwrap_or(rule.is_enabled),
            conditions: base.overridden_by(&ch.conditions),
            cooldown_ms: ch
                .cooldown
                .map_or(rule.cooldown_ms, |c| c.map(Cooldown::ms)),
            user_cooldown_ms: ch
                .user_cooldown
                .map_or(rule.user_cooldown_ms, |c| c.map(Cooldown::ms)),
            streak_policy,
            action: match &ch.action {
                Some(a) => check_action(a.as_deref()),
                None => rule.action.clone(),
            },
        }
        .checked()
    }
}

fn check_streak(streak: Option<StreakPolicy>, event_type: EventType) -> ModelResult<()> {
    if streak.is_some() && event_type != EventType::Gift {
        return Err(ModelError::Invalid(format!(
            "--streak applies to GiftEvent rules only, not to {event_type}"
        )));
    }
    Ok(())
}

/// Creates a rule of the service `slug`; returns it.
pub fn add(conn: &mut DbConn, slug: &str, new: &NewRule) -> ModelResult<Rule> {
    let values = RuleValues::of_new(new)?;
    conn.write_transaction(|conn| {
        let service = services::find(conn, slug)?;
        if find_opt(conn, service.id, &values.name)?.is_some() {
            return Err(ModelError::Invalid(format!(
                "service '{slug}' already has a rule named '{}': choose another name or change it with `ctl rule set {slug} {}`",
                values.name, values.name
            )));
        }
        insert(conn, service.id, &values)?;
        find(conn, slug, service.id, &values.name)
    })
}

/// Inserts the seed's kind of rule: no conditions, named after its event type.
pub(crate) fn insert_config(
    conn: &mut DbConn,
    service_id: i64,
    event_type: EventType,
    basics: Basics,
) -> ModelResult<()> {
    let new = NewRule {
        name: event_type.as_str().to_owned(),
        event_type: Some(event_type),
        basics,
        ..NewRule::default()
    };
    insert(conn, service_id, &RuleValues::of_new(&new)?)
}

fn insert(conn: &mut DbConn, service_id: i64, v: &RuleValues) -> ModelResult<()> {
    let t = now();
    let conditions = v.conditions.to_stored();
    with_conn!(conn, |c| diesel::insert_into(sec::table)
        .values((
            sec::service_id.eq(service_id),
            sec::name.eq(&v.name),
            sec::event_type.eq(v.event_type),
            sec::is_enabled.eq(v.is_enabled),
            sec::priority.eq(v.priority),
            sec::is_async.eq(v.is_async),
            sec::is_discardable.eq(v.is_discardable),
            sec::conditions.eq(&conditions),
            sec::cooldown_ms.eq(v.cooldown_ms),
            sec::user_cooldown_ms.eq(v.user_cooldown_ms),
            sec::streak_policy.eq(v.streak_policy),
            sec::action.eq(&v.action),
            sec::created_at.eq(t),
            sec::updated_at.eq(t),
        ))
        .execute(c))?;
    Ok(())
}

/// Applies changes to the rule `name` of the service `slug`; returns it.
pub fn set(conn: &mut DbConn, slug: &str, name: &str, changes: &RuleChanges) -> ModelResult<Rule> {
    conn.write_transaction(|conn| {
        let service = services::find(conn, slug)?;
        let rule = find(conn, slug, service.id, name)?;
        let v = RuleValues::changed(&rule, changes)?;
        write_back(conn, rule.id, &v)?;
        find(conn, slug, service.id, name)
    })
}

/// Changes the seed's kind of rule (named after `event_type`), creating it when missing;
/// returns it and whether it was created. What `ctl event-config set` does.
pub(crate) fn set_config(
    conn: &mut DbConn,
    slug: &str,
    event_type: EventType,
    basics: Basics,
) -> ModelResult<(Rule, bool)> {
    conn.write_transaction(|conn| {
        let service = services::find(conn, slug)?;
        let name = event_type.as_str();
        let created = match find_opt(conn, service.id, name)? {
            None => {
                insert_config(conn, service.id, event_type, basics)?;
                true
            }
            Some(rule) => {
                let changes = RuleChanges {
                    basics,
                    ..RuleChanges::default()
                };
                write_back(conn, rule.id, &RuleValues::changed(&rule, &changes)?)?;
                false
            }
        };
        Ok((find(conn, slug, service.id, name)?, created))
    })
}

fn write_back(conn: &mut DbConn, id: i64, v: &RuleValues) -> ModelResult<()> {
    let conditions = v.conditions.to_stored();
    with_conn!(conn, |c| diesel::update(sec::table.find(id))
        .set((
            sec::event_type.eq(v.event_type),
            sec::is_enabled.eq(v.is_enabled),
            sec::priority.eq(v.priority),
            sec::is_async.eq(v.is_async),
            sec::is_discardable.eq(v.is_discardable),
            sec::conditions.eq(&conditions),
            sec::cooldown_ms.eq(v.cooldown_ms),
            sec::user_cooldown_ms.eq(v.user_cooldown_ms),
            sec::streak_policy.eq(v.streak_policy),
            sec::action.eq(&v.action),
            sec::updated_at.eq(now()),
        ))
        .execute(c))?;
    Ok(())
}

/// Deletes the rule `name` of the service `slug`.
pub fn remove(conn: &mut DbConn, slug: &str, name: &str) -> ModelResult<()> {
    conn.write_transaction(|conn| {
        let service = services::find(conn, slug)?;
        let rule = find(conn, slug, service.id, name)?;
        with_conn!(conn, |c| diesel::delete(sec::table.find(rule.id))
            .execute(c))?;
        Ok(())
    })
}

/// A service's rules in matching order: by event type, highest priority first, then the one
/// created first.
pub fn list(conn: &mut DbConn, service_id: i64) -> ModelResult<Vec<Rule>> {
    Ok(with_conn!(conn, |c| sec::table
        .filter(sec::service_id.eq(service_id))
        .order((sec::event_type.asc(), sec::priority.desc(), sec::id.asc()))
        .select(Rule::as_select())
        .load(c))?)
}

/// The enabled rules of active services, of these event types (every type when `None`), in
/// matching order per service and type: what the queue engine routes with.
pub fn load_enabled(conn: &mut DbConn, types: Option<&[EventType]>) -> ModelResult<Vec<Rule>> {
    Ok(with_conn!(conn, |c| {
        let mut q = sec::table
            .inner_join(sv::table)
            .filter(sv::is_active.eq(true))
            .filter(sec::is_enabled.eq(true))
            .order((
                sec::service_id.asc(),
                sec::event_type.asc(),
                sec::priority.desc(),
                sec::id.asc(),
            ))
            .select(Rule::as_select())
            .into_boxed();
        if let Some(types) = types {
            q = q.filter(sec::event_type.eq_any(types.to_vec()));
        }
        q.load(c)
    })?)
}

/// The rule `name` of a service, if any.
pub fn find_opt(conn: &mut DbConn, service_id: i64, name: &str) -> ModelResult<Option<Rule>> {
    Ok(with_conn!(conn, |c| sec::table
        .filter(sec::service_id.eq(service_id))
        .filter(sec::name.eq(name))
        .select(Rule::as_select())
        .first(c)
        .optional())?)
}

fn find(conn: &mut DbConn, slug: &str, service_id: i64, name: &str) -> ModelResult<Rule> {
    find_opt(conn, service_id, name)?.ok_or_else(|| {
        ModelError::NotFound(format!(
            "service '{slug}' has no rule named '{name}': `ctl rule list {slug}` shows its rules"
        ))
    })
}

impl Rule {
    /// Its conditions (none when the stored text cannot be read, which only a hand edit of
    /// the table can cause).
    pub fn parsed_conditions(&self) -> Conditions {
        Conditions::from_stored(self.conditions.as_deref()).unwrap_or_default()
    }

    /// Its cooldowns as given on the command line (`30s`), for display.
    pub fn cooldown_text(&self) -> (Option<String>, Option<String>) {
        let show = |ms: Option<i64>| {
            ms.and_then(|ms| Cooldown::from_ms(ms).ok())
                .map(|c| c.to_string())
        };
        (show(self.cooldown_ms), show(self.user_cooldown_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_zero_and_negatives() {
        assert_eq!("30s".parse::<Cooldown>().unwrap().ms(), 30_000);
        assert_eq!("2m".parse::<Cooldown>().unwrap().ms(), 120_000);
        assert_eq!("250ms".parse::<Cooldown>().unwrap().ms(), 250);
        assert_eq!("1h".parse::<Cooldown>().unwrap().ms(), 3_600_000);
        for bad in ["0s", "-5s", "5", "s", "5d", "1.5s", ""] {
            assert!(bad.parse::<Cooldown>().is_err(), "{bad}");
        }
        assert_eq!(Cooldown::from_ms(90_000).unwrap().to_string(), "90s");
    }

    #[test]
    fn conditions_apply_to_their_event_types_only() {
        let gift = Conditions {
            gifts: vec!["Rose".into()],
            ..Conditions::default()
        };
        assert!(gift.clone().checked(EventType::Gift).is_ok());
        let err = gift.checked(EventType::Comment).unwrap_err().to_string();
        assert!(err.contains("--gift applies to GiftEvent"), "{err}");
        let re = Conditions {
            comment_regex: Some("(".into()),
            ..Conditions::default()
        };
        let err = re.checked(EventType::Comment).unwrap_err().to_string();
        assert!(err.starts_with("invalid --comment-regex '('"), "{err}");
        let users = Conditions {
            users: vec!["@Alice".into(), " ".into()],
            ..Conditions::default()
        }
        .checked(EventType::Join)
        .unwrap();
        assert_eq!(users.users, vec!["Alice".to_owned()]);
    }

    #[test]
    fn stored_conditions_round_trip_and_overrides_replace_one_condition() {
        let c = Conditions {
            gifts: vec!["Rose".into(), "5655".into()],
            from: vec![Audience::Follower, Audience::TopGifter],
            min_count: Some(10),
            ..Conditions::default()
        };
        let text = c.to_stored().unwrap();
        assert_eq!(
            text,
            r#"{"gifts":["Rose","5655"],"min_count":10,"from":["follower","top-gifter"]}"#
        );
        assert_eq!(Conditions::from_stored(Some(&text)).unwrap(), c);
        assert_eq!(Conditions::default().to_stored(), None);
        let o = c.overridden_by(&Conditions {
            min_count: Some(99),
            ..Conditions::default()
        });
        assert_eq!(o.min_count, Some(99));
        assert_eq!(o.gifts, c.gifts);
    }
}
