//! What the streamer sees in the terminal: one line per event, like the original
//! (`💬 alice: hello`, `🎁 bob sent Rose x5 (streak total 5)`, …), plus status lines.

use std::io::Write;

use core_models::{CapturedEvent, EventType, StreakStatus};
use serde_json::Value;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing but errors (on stderr).
    Quiet,
    /// One line per event and per connection change.
    Normal,
    /// Also protocol detail: store outcomes, raw connection states.
    Verbose,
}

impl Verbosity {
    /// The level the command-line flags ask for (clap refuses both at once).
    pub(crate) fn from_flags(quiet: bool, verbose: bool) -> Verbosity {
        if quiet {
            Verbosity::Quiet
        } else if verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// Prints event and status lines to stdout.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    verbosity: Verbosity,
}

impl Console {
    /// A console printing at `verbosity`.
    pub fn new(verbosity: Verbosity) -> Console {
        Console { verbosity }
    }

    /// One line per event of a frame.
    pub(crate) fn events(&self, events: &[CapturedEvent]) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        for event in events {
            // A closed stdout (piped into `head`) must not stop the capture.
            let _ = writeln!(out, "{}", event_line(event));
        }
        let _ = out.flush();
    }

    /// A status line (connection, spool, session), unless quiet.
    pub(crate) fn status(&self, line: impl AsRef<str>) {
        if self.verbosity != Verbosity::Quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", line.as_ref());
            let _ = out.flush();
        }
    }

    /// A detail line, only with `--verbose`.
    pub(crate) fn detail(&self, line: impl AsRef<str>) {
        if self.verbosity == Verbosity::Verbose {
            self.status(line);
        }
    }
}

/// The acting user as the original printed it: the @handle, else the nickname.
fn who(event: &CapturedEvent) -> &str {
    event
        .user_unique_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(event.user_nickname.as_deref())
        .unwrap_or("someone")
}

fn num(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// A text of the event's data on one line, whatever the user typed.
fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace(['\n', '\r'], " ")
}

/// The console line of one event.
fn event_line(event: &CapturedEvent) -> String {
    let d = &event.data;
    let user = who(event);
    match event.event_type {
        EventType::Comment => format!("💬 {user}: {}", text(d, "comment")),
        EventType::Gift => gift_line(event, user),
        EventType::Like => format!(
            "❤️ {user} liked x{} (total likes {})",
            num(d, "like_count"),
            num(d, "total_likes")
        ),
        EventType::Share => format!("📤 {user} shared the LIVE"),
        EventType::Follow => format!("👤 {user} followed"),
        EventType::Join => format!("🚪 {user} joined"),
        EventType::Subscribe => format!("⭐ {user} subscribed"),
        EventType::ViewerCount => format!(
            "👀 {} watching ({} viewers in total)",
            num(d, "viewer_count"),
            num(d, "total_viewers")
        ),
        EventType::LiveEnd => "🏁 the LIVE ended".to_owned(),
        EventType::CommentDeleted => {
            let n = d["deleted_msg_ids"].as_array().map_or(0, Vec::len);
            format!("🗑️ a moderator deleted {n} comment(s)")
        }
        EventType::Envelope => format!(
            "🧰 {user} sent a treasure box ({} 💎 for {} viewers)",
            num(d, "diamonds"),
            num(d, "people")
        ),
        EventType::Poll => {
            let options: Vec<String> = d["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| format!("{} {}", text(o, "text"), num(o, "votes")))
                .collect();
            let stage = match d["kind"].as_str() {
                Some("start") => "poll",
                Some("end") => "poll ended",
                _ => "poll votes",
            };
            format!("📊 {stage}: {} ({})", text(d, "title"), options.join(", "))
        }
        EventType::Question => format!("❓ {user} asked: {}", text(d, "question")),
        EventType::RoomPin if d["action"] == "unpin" => "📌 a comment was unpinned".to_owned(),
        EventType::RoomPin => format!("📌 {user}'s comment pinned: {}", text(d, "comment")),
        EventType::Battle => {
            let hosts: Vec<String> = d["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| text(h, "unique_id"))
                .collect();
            let stage = if d["status"] == "end" {
                "ended"
            } else {
                "started"
            };
            format!("⚔️ battle {stage}: {}", hosts.join(" vs "))
        }
        EventType::BattleScore => {
            let points: Vec<String> = d["scores"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| num(s, "points").to_string())
                .collect();
            format!("⚔️ battle points: {}", points.join(" – "))
        }
        EventType::Goal => format!(
            "🎯 goal {}: {}/{}",
            text(d, "description"),
            num(d, "progress"),
            num(d, "target")
        ),
    }
}

/// A gift's line: 🔄 while its combo goes on, 🎁 when it ends or was never one.
fn gift_line(event: &CapturedEvent, user: &str) -> String {
    let d = &event.data;
    let name = d
        .pointer("/gift/name")
        .and_then(Value::as_str)
        .unwrap_or("a gift");
    let count = num(d, "repeat_count").max(1);
    let total = num(d, "streak_total_count").max(count);
    match event.streak.as_ref().map(|s| s.status) {
        Some(StreakStatus::Start | StreakStatus::Continue) => {
            format!("🔄 {user} sent {name} x{count} (streak total {total})")
        }
        Some(StreakStatus::End) => {
            format!("🎁 {user} sent {name} x{count} (streak total {total})")
        }
        // A gift that is not part of a combo has no streak to total.
        None => format!("🎁 {user} sent {name} x{count}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use core_models::Streak;
    use serde_json::json;

    fn event(event_type: EventType, data: Value) -> CapturedEvent {
        CapturedEvent {
            event_type,
            msg_id: Some(1),
            timestamp: Utc::now(),
            user_id: Some("1".into()),
            user_unique_id: Some("bob".into()),
            user_nickname: Some("Bob 🌟".into()),
            streak: None,
            data,
            received_at: None,
        }
    }

    #[test]
    fn lines_like_the_original() {
        assert_eq!(
            event_line(&event(
                EventType::Comment,
                json!({"comment": "hi 👋\nthere"})
            )),
            "💬 bob: hi 👋 there"
        );
        let mut gift = event(
            EventType::Gift,
            json!({"gift": {"name": "Rose"}, "repeat_count": 5, "streak_total_count": 5}),
        );
        gift.streak = Some(Streak {
            id: "1-2".into(),
            status: StreakStatus::End,
        });
        assert_eq!(event_line(&gift), "🎁 bob sent Rose x5 (streak total 5)");
        gift.streak = Some(Streak {
            id: "1-2".into(),
            status: StreakStatus::Continue,
        });
        assert!(event_line(&gift).starts_with("🔄 bob sent Rose x5"));
        gift.streak = None;
        gift.data["repeat_count"] = 1.into();
        assert_eq!(event_line(&gift), "🎁 bob sent Rose x1");
        assert_eq!(
            event_line(&event(
                EventType::Like,
                json!({"like_count": 3, "total_likes": 10})
            )),
            "❤️ bob liked x3 (total likes 10)"
        );
        assert_eq!(
            event_line(&event(EventType::Share, json!({}))),
            "📤 bob shared the LIVE"
        );
        assert_eq!(
            event_line(&event(EventType::Follow, json!({}))),
            "👤 bob followed"
        );
        assert_eq!(
            event_line(&event(EventType::Join, json!({}))),
            "🚪 bob joined"
        );
        assert_eq!(
            event_line(&event(EventType::Subscribe, json!({}))),
            "⭐ bob subscribed"
        );
        let mut anon = event(EventType::Join, json!({}));
        anon.user_unique_id = None;
        assert_eq!(event_line(&anon), "🚪 Bob 🌟 joined");
    }

    #[test]
    fn lines_for_the_events_added_since() {
        let line = |t, data| event_line(&event(t, data));
        assert_eq!(
            line(
                EventType::CommentDeleted,
                json!({"deleted_msg_ids": [1, 2]})
            ),
            "🗑️ a moderator deleted 2 comment(s)"
        );
        assert_eq!(
            line(EventType::Envelope, json!({"diamonds": 100, "people": 20})),
            "🧰 bob sent a treasure box (100 💎 for 20 viewers)"
        );
        assert_eq!(
            line(
                EventType::Poll,
                json!({"kind": "end", "title": "Pizza?", "options": [{"text": "yes", "votes": 3}, {"text": "no", "votes": 1}]})
            ),
            "📊 poll ended: Pizza? (yes 3, no 1)"
        );
        assert_eq!(
            line(EventType::Question, json!({"question": "why?\nreally"})),
            "❓ bob asked: why? really"
        );
        assert_eq!(
            line(
                EventType::RoomPin,
                json!({"action": "pin", "comment": "hi"})
            ),
            "📌 bob's comment pinned: hi"
        );
        assert_eq!(
            line(EventType::RoomPin, json!({"action": "unpin"})),
            "📌 a comment was unpinned"
        );
        assert_eq!(
            line(
                EventType::Battle,
                json!({"status": "start", "hosts": [{"unique_id": "a"}, {"unique_id": "b"}]})
            ),
            "⚔️ battle started: a vs b"
        );
        assert_eq!(
            line(
                EventType::BattleScore,
                json!({"scores": [{"points": 150}, {"points": 90}]})
            ),
            "⚔️ battle points: 150 – 90"
        );
        assert_eq!(
            line(
                EventType::Goal,
                json!({"description": "100 roses", "progress": 5, "target": 100})
            ),
            "🎯 goal 100 roses: 5/100"
        );
    }
}
