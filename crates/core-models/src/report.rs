//! A session's report: what a streamer looks back at after a LIVE (events by type, gifts and
//! their value, top gifters and commenters, new followers, viewers, per-minute series). Read
//! only; the same numbers for `ctl session report` and the control room.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use crate::db::DbConn;
use crate::error::ModelResult;
use crate::event::EventType;
use crate::models::{now, LiveSession};
use crate::schema::live_events as le;
use crate::{sessions, with_conn};

/// Entries in each top list.
const TOP: usize = 10;
/// New followers listed by name (the count covers them all).
const FOLLOWERS_LISTED: usize = 100;
/// Longest per-minute series (two days): a session left open longer shows its last minutes.
const MAX_MINUTES: usize = 2 * 24 * 60;

/// Everything a session's report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    /// The session.
    pub session: LiveSession,
    /// From its start to its end (or to now while it runs), in seconds.
    pub duration_secs: i64,
    /// Events stored, by type.
    pub events_by_type: BTreeMap<String, i64>,
    /// Gifts received (combos counted once, at their end).
    pub gifts: GiftTotals,
    /// The 10 viewers who sent the most diamonds.
    pub top_gifters: Vec<Gifter>,
    /// The 10 viewers who commented most.
    pub top_commenters: Vec<Commenter>,
    /// New followers: how many, and the first 100 by name.
    pub new_followers: Followers,
    /// Viewer counts TikTok reported.
    pub viewers: Viewers,
    /// One entry per minute from the first event to the last.
    pub per_minute: Vec<Minute>,
}

/// Gift totals of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GiftTotals {
    /// Gifts sent (a combo of 10 roses counts 10).
    pub count: i64,
    /// Their diamonds.
    pub diamonds: i64,
    /// Estimated value in US dollars (what TikTok charges viewers: 1 diamond ≈ $0.005).
    pub usd: f64,
}

/// One viewer in the gifters' ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gifter {
    /// @handle.
    pub unique_id: String,
    /// Display name.
    pub nickname: String,
    /// Diamonds sent.
    pub diamonds: i64,
    /// Gifts sent.
    pub gifts: i64,
}

/// One viewer in the commenters' ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commenter {
    /// @handle.
    pub unique_id: String,
    /// Display name.
    pub nickname: String,
    /// Comments written.
    pub comments: i64,
}

/// New followers of a session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Followers {
    /// How many followed.
    pub count: i64,
    /// The first ones, by @handle, in order.
    pub first: Vec<String>,
}

/// Viewer counts over a session.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Viewers {
    /// The highest count reported.
    pub peak: i64,
    /// The mean of the counts reported (0 without any).
    pub average: f64,
}

/// One minute of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minute {
    /// Its start (UTC).
    pub minute: NaiveDateTime,
    /// Events of that minute.
    pub events: i64,
    /// Diamonds of the gifts of that minute.
    pub diamonds: i64,
    /// The highest viewer count reported in it, if any.
    pub viewers: Option<i64>,
}

/// The report of session `id` (not found: the error says how to list sessions).
pub fn session_report(conn: &mut DbConn, id: i64) -> ModelResult<SessionReport> {
    let session = sessions::get(conn, id)?;
    let end = session.ended_at.unwrap_or_else(now);
    let duration_secs = (end - session.started_at).num_seconds().max(0);
    let events_by_type = events_by_type(conn, id)?;
    let mut minutes = MinuteSeries::default();
    for (minute, n) in events_per_minute(conn, id)? {
        minutes.at(minute).events += n;
    }
    let (gifts, top_gifters) = gifts(conn, id, &mut minutes)?;
    let top_commenters = commenters(conn, id)?;
    let new_followers = followers(conn, id)?;
    let viewers = viewers(conn, id, &mut minutes)?;
    Ok(SessionReport {
        session,
        duration_secs,
        events_by_type,
        gifts,
        top_gifters,
        top_commenters,
        new_followers,
        viewers,
        per_minute: minutes.into_series(),
    })
}

fn events_by_type(conn: &mut DbConn, id: i64) -> ModelResult<BTreeMap<String, i64>> {
    let rows: Vec<(EventType, i64)> = with_conn!(conn, |c| le::table
        .filter(le::session_id.eq(id))
        .group_by(le::event_type)
        .select((le::event_type, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(t, n)| (t.as_str().to_owned(), n))
        .collect())
}

#[derive(QueryableByName)]
struct MinuteCount {
    #[diesel(sql_type = Text)]
    minute: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Events per minute, counted by the database (a long LIVE has millions of events).
fn events_per_minute(conn: &mut DbConn, id: i64) -> ModelResult<Vec<(NaiveDateTime, i64)>> {
    let sql = match conn {
        DbConn::Mysql(_) => {
            "SELECT DATE_FORMAT(timestamp, '%Y-%m-%d %H:%i') AS minute, COUNT(*) AS n \
             FROM live_events WHERE session_id = ? GROUP BY minute ORDER BY minute"
        }
        DbConn::Sqlite(_) => {
            "SELECT substr(timestamp, 1, 16) AS minute, COUNT(*) AS n \
             FROM live_events WHERE session_id = ? GROUP BY minute ORDER BY minute"
        }
    };
    let q = diesel::sql_query(sql).bind::<BigInt, _>(id);
    let rows: Vec<MinuteCount> = with_conn!(conn, |c| q.clone().load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let t = NaiveDateTime::parse_from_str(&format!("{}:00", r.minute), "%Y-%m-%d %H:%M:%S")
                .ok()?;
            Some((t, r.n))
        })
        .collect())
}

/// The events of one type in a session, oldest first: (time, @handle, nickname, data).
type Row = (NaiveDateTime, Option<String>, Option<String>, String);

fn rows(
    conn: &mut DbConn,
    id: i64,
    event_type: EventType,
    ends_only: bool,
) -> ModelResult<Vec<Row>> {
    Ok(with_conn!(conn, |c| {
        let mut q = le::table
            .filter(le::session_id.eq(id))
            .filter(le::event_type.eq(event_type))
            .order(le::id.asc())
            .select((
                le::timestamp,
                le::user_unique_id,
                le::user_nickname,
                le::event_data,
            ))
            .into_boxed();
        if ends_only {
            q = q.filter(le::is_streaking.eq(false));
        }
        q.load::<Row>(c)
    })?)
}

/// Gift totals and the top gifters; each gift's diamonds go to its minute.
fn gifts(
    conn: &mut DbConn,
    id: i64,
    minutes: &mut MinuteSeries,
) -> ModelResult<(GiftTotals, Vec<Gifter>)> {
    let mut totals = GiftTotals::default();
    let mut by_viewer: HashMap<String, Gifter> = HashMap::new();
    for (t, handle, nickname, data) in rows(conn, id, EventType::Gift, true)? {
        let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        let (count, diamonds) = gift_value(&data);
        totals.count += count;
        totals.diamonds += diamonds;
        minutes.at(t).diamonds += diamonds;
        let handle = handle.unwrap_or_default();
        let gifter = by_viewer.entry(handle.clone()).or_insert_with(|| Gifter {
            unique_id: handle,
            nickname: nickname.unwrap_or_default(),
            diamonds: 0,
            gifts: 0,
        });
        gifter.diamonds += diamonds;
        gifter.gifts += count;
    }
    totals.usd = (totals.diamonds as f64 * events::USD_PER_DIAMOND * 100.0).round() / 100.0;
    let mut top: Vec<Gifter> = by_viewer.into_values().collect();
    top.sort_by(|a, b| {
        b.diamonds
            .cmp(&a.diamonds)
            .then(a.unique_id.cmp(&b.unique_id))
    });
    top.truncate(TOP);
    Ok((totals, top))
}

/// (gifts, diamonds) of one gift event: the combo's total count, and its total diamonds (or
/// the unit price times the count when the event does not say).
fn gift_value(data: &serde_json::Value) -> (i64, i64) {
    let int = |v: &serde_json::Value| v.as_i64().unwrap_or(0).max(0);
    let count = int(&data["streak_total_count"])
        .max(int(&data["repeat_count"]))
        .max(1);
    let diamonds = match data.get("total_diamonds") {
        Some(v) if v.is_i64() || v.is_u64() => int(v),
        _ => int(&data["gift"]["diamond_count"]) * count,
    };
    (count, diamonds)
}

fn commenters(conn: &mut DbConn, id: i64) -> ModelResult<Vec<Commenter>> {
    let mut by_viewer: HashMap<String, Commenter> = HashMap::new();
    for (_, handle, nickname, _) in rows(conn, id, EventType::Comment, false)? {
        let handle = handle.unwrap_or_default();
        by_viewer
            .entry(handle.clone())
            .or_insert_with(|| Commenter {
                unique_id: handle,
                nickname: nickname.unwrap_or_default(),
                comments: 0,
            })
            .comments += 1;
    }
    let mut top: Vec<Commenter> = by_viewer.into_values().collect();
    top.sort_by(|a, b| {
        b.comments
            .cmp(&a.comments)
            .then(a.unique_id.cmp(&b.unique_id))
    });
    top.truncate(TOP);
    Ok(top)
}

fn followers(conn: &mut DbConn, id: i64) -> ModelResult<Followers> {
    let rows = rows(conn, id, EventType::Follow, false)?;
    Ok(Followers {
        count: rows.len() as i64,
        first: rows
            .into_iter()
            .filter_map(|(_, handle, _, _)| handle)
            .take(FOLLOWERS_LISTED)
            .collect(),
    })
}

/// Peak and average viewers; each minute keeps its highest count.
fn viewers(conn: &mut DbConn, id: i64, minutes: &mut MinuteSeries) -> ModelResult<Viewers> {
    let mut counts = Vec::new();
    for (t, _, _, data) in rows(conn, id, EventType::ViewerCount, false)? {
        let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        let Some(n) = data["viewer_count"].as_i64() else {
            continue;
        };
        counts.push(n);
        let minute = minutes.at(t);
        minute.viewers = Some(minute.viewers.map_or(n, |m| m.max(n)));
    }
    let peak = counts.iter().copied().max().unwrap_or(0);
    let average = if counts.is_empty() {
        0.0
    } else {
        let mean = counts.iter().sum::<i64>() as f64 / counts.len() as f64;
        (mean * 10.0).round() / 10.0
    };
    Ok(Viewers { peak, average })
}

/// Minutes being filled in, by start time.
#[derive(Default)]
struct MinuteSeries(BTreeMap<NaiveDateTime, Minute>);

impl MinuteSeries {
    fn at(&mut self, t: NaiveDateTime) -> &mut Minute {
        let start = minute_of(t);
        self.0.entry(start).or_insert_with(|| Minute {
            minute: start,
            events: 0,
            diamonds: 0,
            viewers: None,
        })
    }

    /// Every minute from the first to the last (quiet ones at zero), at most [`MAX_MINUTES`].
    fn into_series(mut self) -> Vec<Minute> {
        let (Some(first), Some(last)) = (
            self.0.keys().next().copied(),
            self.0.keys().next_back().copied(),
        ) else {
            return Vec::new();
        };
        let span = ((last - first).num_minutes() as usize + 1).min(MAX_MINUTES);
        let start = last - Duration::minutes(span as i64 - 1);
        (0..span)
            .map(|i| {
                let t = start + Duration::minutes(i as i64);
                self.0.remove(&t).unwrap_or(Minute {
                    minute: t,
                    events: 0,
                    diamonds: 0,
                    viewers: None,
                })
            })
            .collect()
    }
}

fn minute_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// What a session's events since a mark add to a live view: the gifts' diamonds and the
/// latest viewer count. Reads only the rows after `after` (an event id), so a dashboard that
/// asks every second reads each event once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pulse {
    /// The highest event id read (the next mark).
    pub last_id: i64,
    /// Diamonds of the gifts (combo ends) read.
    pub diamonds: i64,
    /// The latest viewer count read, if any.
    pub viewers: Option<i64>,
}

/// The [`Pulse`] of session `id` after event `after`.
pub fn pulse(conn: &mut DbConn, id: i64, after: i64) -> ModelResult<Pulse> {
    // The newest id of any session: one step down the primary key. Reading up to it (not
    // past it) keeps a row committed between the two reads for the next pulse.
    let ceiling: Option<i64> = with_conn!(conn, |c| le::table
        .select(diesel::dsl::max(le::id))
        .first(c))?;
    let ceiling = ceiling.unwrap_or(after).max(after);
    let rows: Vec<(i64, EventType, String)> = with_conn!(conn, |c| le::table
        .filter(le::id.gt(after))
        .filter(le::id.le(ceiling))
        .filter(le::session_id.eq(id))
        .filter(le::event_type.eq_any([EventType::Gift, EventType::ViewerCount]))
        .filter(le::is_streaking.eq(false))
        .order(le::id.asc())
        .select((le::id, le::event_type, le::event_data))
        .load(c))?;
    let mut p = Pulse {
        last_id: ceiling,
        ..Pulse::default()
    };
    for (_, event_type, data) in rows {
        let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        match event_type {
            EventType::Gift => p.diamonds += gift_value(&data).1,
            _ => p.viewers = data["viewer_count"].as_i64().or(p.viewers),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gift_is_worth_its_total_or_its_price_times_its_count() {
        let combo = serde_json::json!({"gift": {"diamond_count": 1}, "repeat_count": 10,
            "streak_total_count": 10, "total_diamonds": 10});
        assert_eq!(gift_value(&combo), (10, 10));
        let plain = serde_json::json!({"gift": {"diamond_count": 99}, "repeat_count": 2});
        assert_eq!(gift_value(&plain), (2, 198));
        assert_eq!(gift_value(&serde_json::json!({})), (1, 0));
    }

    #[test]
    fn minutes_fill_the_gaps_between_the_first_and_the_last() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let mut m = MinuteSeries::default();
        m.at(t("2026-12-07 10:00:59")).events += 2;
        m.at(t("2026-12-07 10:03:00")).diamonds += 5;
        let series = m.into_series();
        assert_eq!(series.len(), 4);
        assert_eq!(series[0].events, 2);
        assert_eq!(series[1].events, 0);
        assert_eq!(series[3].diamonds, 5);
        assert_eq!(series[3].minute, t("2026-12-07 10:03:00"));
    }
}
