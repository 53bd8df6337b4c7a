//! Test events: an event a streamer makes up (`ctl event send`, the control room's test form)
//! to check a rule or an overlay before going live. It goes through the real dispatch path,
//! rules and cooldowns included, into the streamer's test session, so reports and totals can
//! tell it from a LIVE's.

use chrono::Utc;
use core_models::{sessions, CapturedEvent, DbConn, EventType, LiveSession, ModelError};
use events::Streamer;
use serde::Serialize;
use serde_json::{json, Value};

use crate::batch::{Batch, BatchGroup, SessionRef};
use crate::error::EngineError;
use crate::report::DispatchReport;

/// Diamonds of the gifts streamers test with most, for a test gift sent without
/// `--diamonds` (any other gift is worth 1).
const KNOWN_GIFTS: &[(&str, i64)] = &[
    ("Rose", 1),
    ("TikTok", 1),
    ("GG", 1),
    ("Ice Cream Cone", 1),
    ("Heart Me", 1),
    ("Finger Heart", 5),
    ("Doughnut", 30),
    ("Hand Hearts", 100),
    ("Corgi", 299),
    ("Galaxy", 1000),
    ("Lion", 29_999),
    ("Universe", 44_999),
];

/// Most gifts, likes or viewers one test event may claim.
const MAX_COUNT: i64 = 1_000_000;

/// A made-up event.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    /// Its type.
    pub event_type: EventType,
    /// Whose LIVE it pretends to come from (routing follows service scopes).
    pub streamer: Streamer,
    /// The viewer's @handle.
    pub user: String,
    /// Gift name (GiftEvent).
    pub gift: Option<String>,
    /// Gifts in the combo, likes, or viewers, by type (at least 1).
    pub count: i64,
    /// Diamonds per gift; from the known gifts (or 1) when `None`.
    pub diamonds: Option<i64>,
    /// Comment text (CommentEvent).
    pub comment: Option<String>,
}

/// What sending a test event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestSent {
    /// The test session it went into (`is_test: true`).
    pub session_id: i64,
    /// Its `live_events` id.
    pub event_id: Option<i64>,
    /// What dispatch did with it.
    pub dispatch: DispatchReport,
}

impl TestEvent {
    /// Checks what the type needs; the error says what to add.
    pub fn checked(self) -> Result<TestEvent, ModelError> {
        let user = self.user.trim().trim_start_matches('@').to_owned();
        if user.is_empty() || user.chars().count() > 64 {
            return Err(ModelError::Invalid(
                "the viewer's handle is empty or too long: pass --user alice".into(),
            ));
        }
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(ModelError::Invalid(format!(
                "count {} is out of range: use 1 to {MAX_COUNT}",
                self.count
            )));
        }
        if self.diamonds.is_some_and(|d| !(0..=MAX_COUNT).contains(&d)) {
            return Err(ModelError::Invalid(format!(
                "diamonds must be 0 to {MAX_COUNT} per gift"
            )));
        }
        match self.event_type {
            EventType::Gift if self.gift.as_deref().is_none_or(|g| g.trim().is_empty()) => {
                return Err(ModelError::Invalid(
                    "a test GiftEvent needs a gift: pass --gift Rose".into(),
                ))
            }
            EventType::Comment if self.comment.as_deref().is_none_or(str::is_empty) => {
                return Err(ModelError::Invalid(
                    "a test CommentEvent needs its text: pass --comment \"hello\"".into(),
                ))
            }
            _ => {}
        }
        Ok(TestEvent { user, ..self })
    }

    /// The event as the capture would have made it.
    fn captured(&self) -> CapturedEvent {
        let t = Utc::now();
        CapturedEvent {
            event_type: self.event_type,
            // Unique in the test room (de-duplication is per room and msg_id).
            msg_id: Some(t.timestamp_nanos_opt().unwrap_or_default()),
            timestamp: t,
            user_id: Some(format!("test-{}", self.user)),
            user_unique_id: Some(self.user.clone()),
            user_nickname: Some(self.user.clone()),
            streak: None,
            data: self.data(),
            received_at: Some(t),
        }
    }

    /// The payload of the event_data contract for the type.
    fn data(&self) -> Value {
        let user = json!({
            "id": format!("test-{}", self.user), "unique_id": self.user,
            "nickname": self.user, "avatar_url": "", "sec_uid": "", "verified": false,
            "follow_role": 0, "is_moderator": false, "is_subscriber": false,
            "is_super_fan": false, "member_level": 0, "gifter_level": 0, "badges": [],
        });
        let n = self.count;
        match self.event_type {
            EventType::Gift => {
                let name = self.gift.clone().unwrap_or_default();
                let each = self.diamonds.unwrap_or_else(|| known_price(&name));
                json!({
                    "gift": {"id": 0, "name": name, "diamond_count": each, "streakable": false,
                             "type": 0},
                    "repeat_count": n, "streak_total_count": n, "is_streaking": false,
                    "repeat_end": true, "total_diamonds": each * n,
                    "value_usd": (each * n) as f64 * events::USD_PER_DIAMOND,
                    "group_id": 0, "from_user": user, "to_user": null, "user": user,
                })
            }
            EventType::Comment => json!({
                "comment": self.comment.clone().unwrap_or_default(),
                "content_language": "", "user": user,
            }),
            EventType::Like => json!({"like_count": n, "total_likes": n, "user": user}),
            EventType::Share => json!({"share_count": 1, "share_type": 0, "share_target": "",
                                       "users_joined": null, "user": user}),
            EventType::Follow => json!({"follow_count": 0, "user": user}),
            EventType::Join => json!({"member_count": 0, "user": user}),
            EventType::Subscribe => {
                json!({"source": "sub_notify", "sub_month": 1, "subscribe_type": 0, "user": user})
            }
            EventType::ViewerCount => {
                json!({"viewer_count": n, "total_viewers": n, "top_viewers": []})
            }
            _ => json!({"user": user}),
        }
    }
}

fn known_price(gift: &str) -> i64 {
    KNOWN_GIFTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(gift.trim()))
        .map_or(1, |&(_, d)| d)
}

/// Sends `event` through [`Engine::dispatch`](crate::Engine::dispatch) into its streamer's
/// test session (opened when there is none).
pub(crate) fn send(conn: &mut DbConn, event: &TestEvent) -> Result<TestSent, EngineError> {
    let event = event.clone().checked()?;
    let session: LiveSession = sessions::open_test(conn, event.streamer.as_str())?;
    let batch = Batch {
        session: SessionRef::of(&session),
        events: vec![event.captured()],
    };
    let dispatch = crate::dispatch::dispatch(conn, &BatchGroup::from(&batch), None)?;
    Ok(TestSent {
        session_id: session.id,
        event_id: dispatch.event_ids.first().copied().flatten(),
        dispatch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift(count: i64) -> TestEvent {
        TestEvent {
            event_type: EventType::Gift,
            streamer: "streamer".parse().expect("handle"),
            user: "@alice".into(),
            gift: Some("rose".into()),
            count,
            diamonds: None,
            comment: None,
        }
    }

    #[test]
    fn a_test_gift_looks_like_a_captured_one() {
        let e = gift(5).checked().expect("valid");
        assert_eq!(e.user, "alice");
        let data = e.data();
        assert_eq!(data["gift"]["diamond_count"], 1);
        assert_eq!(data["total_diamonds"], 5);
        assert_eq!(data["user"]["unique_id"], "alice");
        assert!(!e.captured().is_streaking());
    }

    #[test]
    fn what_a_type_needs_is_asked_for() {
        let no_gift = TestEvent {
            gift: None,
            ..gift(1)
        };
        assert!(no_gift
            .checked()
            .unwrap_err()
            .to_string()
            .contains("--gift"));
        assert!(gift(0).checked().is_err());
    }
}
