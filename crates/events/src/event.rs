//! What happened on a LIVE: event types, gift streaks and the [`CapturedEvent`] that the
//! webcast client produces and the queue engine stores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// The kind of a LIVE event. The stored names are the original system's.
    #[cfg_attr(
        feature = "diesel",
        derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
        diesel(sql_type = diesel::sql_types::Text)
    )]
    EventType, "event type" {
        /// A chat message (also a sticker-only one).
        Comment => "CommentEvent" | "comment",
        /// A gift, one event per combo step.
        Gift => "GiftEvent" | "gift",
        /// A batch of likes from one viewer.
        Like => "LikeEvent" | "like",
        /// The LIVE was shared.
        Share => "ShareEvent" | "share",
        /// A viewer followed the streamer.
        Follow => "FollowEvent" | "follow",
        /// A viewer entered the room.
        Join => "JoinEvent" | "join",
        /// A subscription or super-fan notice.
        Subscribe => "SubscribeEvent" | "subscribe",
        /// Concurrent and cumulative viewer counts; stored, dispatched only on explicit subscription.
        ViewerCount => "ViewerCountEvent" | "viewer_count",
        /// The stream ended; stored, dispatched only on explicit subscription.
        LiveEnd => "LiveEndEvent" | "live_end",
        /// A moderator deleted comments: their msg_ids, and the authors' ids.
        CommentDeleted => "CommentDeletedEvent" | "comment_deleted",
        /// A treasure box (envelope) was sent into the room.
        Envelope => "EnvelopeEvent" | "envelope",
        /// A poll started, got votes or ended.
        Poll => "PollEvent" | "poll",
        /// A viewer asked a question (Q&A).
        Question => "QuestionEvent" | "question",
        /// A comment was pinned or unpinned.
        RoomPin => "RoomPinEvent" | "room_pin",
        /// A battle between hosts started or ended.
        Battle => "BattleEvent" | "battle",
        /// The points of a running battle, per host.
        BattleScore => "BattleScoreEvent" | "battle_score",
        /// A LIVE goal moved.
        Goal => "GoalEvent" | "goal",
    }
}

impl EventType {
    /// The seven interactive types that services subscribe to by default (the original
    /// system's; the types added since are dispatched to the services that subscribe to them).
    pub const INTERACTIVE: &'static [EventType] = &[
        EventType::Comment,
        EventType::Gift,
        EventType::Like,
        EventType::Share,
        EventType::Follow,
        EventType::Join,
        EventType::Subscribe,
    ];
}

crate::string_enum! {
    /// Where a gift message stands in its combo ("streak").
    #[cfg_attr(
        feature = "diesel",
        derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
        diesel(sql_type = diesel::sql_types::Text)
    )]
    StreakStatus, "streak status" {
        /// The first step of a combo.
        Start => "start",
        /// A later step, before the end.
        Continue => "continue",
        /// The combo ended, with its real total.
        End => "end",
    }
}

/// The streak a gift event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    /// Stable id shared by every event of one combo.
    pub id: String,
    /// Position of this event in the combo.
    pub status: StreakStatus,
}

impl Streak {
    /// True while the combo goes on: every step but the end. The one definition of
    /// "streaking", used for the `is_streaking` column and the event_data key alike (the
    /// original system's end message was the non-streaking one).
    pub fn is_streaking(&self) -> bool {
        self.status != StreakStatus::End
    }
}

/// One event as decoded from the LIVE, before it is stored.
///
/// Produced by the `webcast` crate, stored and routed by the queue engine. Room and streamer
/// come from the capture session, not from the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedEvent {
    /// What happened.
    pub event_type: EventType,
    /// TikTok's message id, unique per room; `None` when the message carried none.
    pub msg_id: Option<i64>,
    /// When TikTok says it happened (normalised to UTC), or when it was received.
    pub timestamp: DateTime<Utc>,
    /// The acting user's numeric id, as a string.
    pub user_id: Option<String>,
    /// The acting user's @handle.
    pub user_unique_id: Option<String>,
    /// The acting user's display name.
    pub user_nickname: Option<String>,
    /// Set for streakable gifts.
    pub streak: Option<Streak>,
    /// The type-specific payload (the event_data contract in the README).
    pub data: serde_json::Value,
    /// When the capture daemon received the frame it came in; stored as the row's
    /// `created_at`, so queue lag is measured from receipt, not from the commit. `None` for
    /// events made without a frame (a streak closed by its timeout): stamped at commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

impl CapturedEvent {
    /// True for a gift combo step that is not its end (see [`Streak::is_streaking`]).
    pub fn is_streaking(&self) -> bool {
        self.streak.as_ref().is_some_and(Streak::is_streaking)
    }

    /// A combo end the capture made up because TikTok's end message never came: the only
    /// events without a msg_id, so storing one twice must be prevented another way.
    pub fn is_synthetic_streak_end(&self) -> bool {
        self.msg_id.is_none()
            && self
                .streak
                .as_ref()
                .is_some_and(|s| s.status == StreakStatus::End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_exactly_by_alias_and_in_any_case() {
        assert_eq!("GiftEvent".parse::<EventType>(), Ok(EventType::Gift));
        assert_eq!("giftevent".parse::<EventType>(), Ok(EventType::Gift));
        assert_eq!("gift".parse::<EventType>(), Ok(EventType::Gift));
        let err = "Nope".parse::<EventType>().unwrap_err().to_string();
        assert!(err.starts_with("unknown event type 'Nope'"), "{err}");
        assert_eq!(
            serde_json::to_string(&EventType::ViewerCount).unwrap(),
            "\"ViewerCountEvent\""
        );
    }

    #[test]
    fn the_types_added_since_the_seed_keep_the_seven_interactive_ones_first() {
        assert_eq!(&EventType::ALL[..7], EventType::INTERACTIVE);
        for (name, t) in [
            ("CommentDeletedEvent", EventType::CommentDeleted),
            ("EnvelopeEvent", EventType::Envelope),
            ("PollEvent", EventType::Poll),
            ("QuestionEvent", EventType::Question),
            ("RoomPinEvent", EventType::RoomPin),
            ("BattleEvent", EventType::Battle),
            ("BattleScoreEvent", EventType::BattleScore),
            ("GoalEvent", EventType::Goal),
        ] {
            assert_eq!(name.parse::<EventType>(), Ok(t));
            assert_eq!(t.as_str(), name);
            // Stored in VARCHAR(32) columns.
            assert!(name.len() <= 32);
        }
        assert_eq!(
            "battle_score".parse::<EventType>(),
            Ok(EventType::BattleScore)
        );
    }

    #[test]
    fn only_combo_steps_before_the_end_are_streaking() {
        let step = |status| Streak {
            id: "1-2".into(),
            status,
        };
        assert!(step(StreakStatus::Start).is_streaking());
        assert!(step(StreakStatus::Continue).is_streaking());
        assert!(!step(StreakStatus::End).is_streaking());
    }
}
