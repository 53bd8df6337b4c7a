//! Mapping of decoded webcast messages to our [`CapturedEvent`]s (DESIGN §4).
//!
//! `data` keeps the original system's event_data keys (see shared/reference/seed-semantics.md)
//! and adds what the protocol gives. Every event that has an acting user carries a `user`
//! object built by [`user_json`]:
//! `{id, unique_id, nickname, sec_uid, avatar_url, verified, follow_role, is_moderator,
//! is_subscriber, is_super_fan, member_level, gifter_level, badges[{scene_type, level, text,
//! url}]}` (plus `is_follower`, `is_gift_giver` when the message carries a user identity); the
//! event's user columns come from that object. User ids are strings, msg_ids numbers.
//!
//! | message | event | `data` keys besides `user` |
//! |---|---|---|
//! | Chat | CommentEvent | `comment`, `content_language`, `at_user{id, unique_id, nickname}`?, `emote_ids`?, `emotes[{id, image_url}]`? |
//! | EmoteChat | CommentEvent | `comment: ""`, `is_emote_only: true`, `emote_id`, `emote_image_url`, `emote_ids`, `emotes[{id, image_url}]` |
//! | Gift | GiftEvent | `gift{id, name, diamond_count, streakable, type}`, `repeat_count`, `streak_total_count`, `is_streaking`, `total_diamonds`, `value_usd`, `group_id`, `repeat_end`, `from_user` (= `user`), `to_user`; on end events `finalised_by` (`repeat_end` / `timeout` / `late_step`), `added_count`, `added_diamonds` |
//! | Like | LikeEvent | `like_count`, `total_likes` |
//! | Member, action 1 | JoinEvent | `member_count` |
//! | Social, action 1 (or key with `follow`) | FollowEvent | `follow_count` |
//! | Social, action 3 (or key with `share`) | ShareEvent | `users_joined` (from `pm_mt_guidance_viewer_N_share`, else null), `share_count`, `share_type`, `share_target` |
//! | SubNotify | SubscribeEvent | `source: "sub_notify"`, `sub_month`, `subscribe_type` |
//! | Barrage with a `ttlive_superfan` key | SubscribeEvent | `source: "barrage"`, `kind` (`super_fan_joined` / `became_super_fan`), `display_key` |
//! | RoomUserSeq | ViewerCountEvent (no user) | `viewer_count` (concurrent), `total_viewers` (cumulative), `top_viewers[{user_id, unique_id, score, rank}]` |
//! | Control, action 3 or 4 | LiveEndEvent (no user) | `action`, `reason` (`ended` / `suspended`), `tips` |
//! | ImDelete | CommentDeletedEvent (no user) | `deleted_msg_ids` (numbers), `deleted_user_ids` (strings) |
//! | Envelope, not hidden | EnvelopeEvent (user: the sender) | `envelope_id`, `diamonds`, `people`, `business_type`, `is_super_fan_box`, `unpack_at` |
//! | Poll | PollEvent (no user) | `poll_id`, `kind` (`start` / `update` / `end`), `title`, `options[{text, votes}]`, `poll_kind`, `operator`; `ends_at` (start), `end_type` (end) |
//! | QuestionNew | QuestionEvent (user: the asker) | `question_id`, `question` |
//! | RoomPin | RoomPinEvent (user: the comment's author) | `action` (`pin` / `unpin`), `comment`, `pinned_msg_id`, `display_duration`, `operator` |
//! | LinkMicBattle, start or end (once each per battle) | BattleEvent (no user) | `battle_id`, `status` (`start` / `end`), `action`, `hosts[{user_id, unique_id, nickname}]`, `duration_s`?; `results[{user_id, result, points}]` (end) |
//! | LinkMicArmies | BattleScoreEvent (no user) | `battle_id`, `scores[{user_id, points, top_viewers[{user_id, nickname, points}]}]`, `reason`, `from_user_id`, `gift_id` |
//! | GoalUpdate | GoalEvent (no user) | `goal_id`, `description`, `progress`, `target` (of the sub-goal updated, else the first), `sub_goals[{id, type, progress, target, gift_name}]`, `contributor{id, unique_id}`, `contribute_count`, `update_source` |
//!
//! Other messages (member actions other than join, control pause/resume, hidden envelopes,
//! other barrages, battle invitations, unknown methods) produce no event. Gift streak events
//! carry `streak = {id: "<sender id>-<group_id>", status}`; a streak closed by the timeout
//! yields a synthesised end event with `msg_id: None`, and a step that comes after a streak
//! was closed, with a higher count, a correcting end event (`finalised_by: "late_step"`).

mod audience;
mod battle;
mod chat;
mod gift;
mod interaction;
mod user;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use events::{CapturedEvent, EventType, Streak, StreakStatus};
use serde_json::Value;

pub use audience::barrage_user;
pub use user::user_json;

use crate::decode::{DecodedBatch, DecodedMessage, WebcastMessage};
use crate::proto::{CommonMessageData, WebcastGiftMessage};
use crate::streak::{ExpiredStreak, GiftStep, StreakOutcome, StreakTracker};
use battle::BattleTracker;
use gift::{gift_event, is_streakable, EndFacts, Ending};

/// How long TikTok's combo end may lag the last step before the capture closes the streak
/// itself: end messages were measured up to 4 s after the last step in real 2023 captures.
pub const DEFAULT_STREAK_TIMEOUT: Duration = Duration::from_secs(10);

/// Tuning of a [`Mapper`].
#[derive(Debug, Clone, Copy)]
pub struct MapperConfig {
    /// Quiet time after which an open gift streak is finalised (its end message was lost).
    pub streak_timeout: Duration,
    /// How many recent msg_ids are remembered for de-duplication.
    pub dedupe_capacity: usize,
}

impl Default for MapperConfig {
    fn default() -> Self {
        Self {
            streak_timeout: DEFAULT_STREAK_TIMEOUT,
            dedupe_capacity: 20_000,
        }
    }
}

/// Counters of what the mapper did with the messages it saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapperStats {
    /// Events produced.
    pub events: u64,
    /// Messages dropped because their msg_id was already seen.
    pub duplicates: u64,
    /// Gift messages of a finalised streak that were ignored (nothing new in them).
    pub ignored_streak_messages: u64,
    /// Gift messages of a finalised streak that raised its total (a correcting end event).
    pub corrected_streaks: u64,
    /// Messages that decoded but map to no event (member actions other than join, control
    /// pause/resume, hidden envelopes, other barrages, battle invitations...).
    pub unmapped: u64,
}

/// Turns decoded messages into events: de-duplicates by msg_id, tracks gift streaks and builds
/// the event_data. One mapper lives as long as a capture session, across reconnects, so that
/// history replayed after a reconnect is not stored twice.
#[derive(Debug)]
pub struct Mapper {
    streaks: StreakTracker<WebcastGiftMessage>,
    battles: BattleTracker,
    seen: HashSet<i64>,
    seen_order: VecDeque<i64>,
    dedupe_capacity: usize,
    stats: MapperStats,
}

impl Default for Mapper {
    fn default() -> Self {
        Self::new(MapperConfig::default())
    }
}

impl Mapper {
    /// A mapper with the given tuning.
    pub fn new(config: MapperConfig) -> Self {
        Self {
            streaks: StreakTracker::new(config.streak_timeout),
            battles: BattleTracker::default(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            dedupe_capacity: config.dedupe_capacity.max(1),
            stats: MapperStats::default(),
        }
    }

    /// What the mapper did so far.
    pub fn stats(&self) -> MapperStats {
        self.stats
    }

    /// Number of gift streaks still waiting for their end.
    pub fn open_streaks(&self) -> usize {
        self.streaks.open_count()
    }

    /// Maps every message of a decoded fetch result, in order (one frame = one batch).
    pub fn map_batch(&mut self, batch: &DecodedBatch, now: Instant) -> Vec<CapturedEvent> {
        let mut events = Vec::with_capacity(batch.messages.len());
        for message in &batch.messages {
            events.extend(self.map(message, now));
        }
        events
    }

    /// Maps one message to zero or more events.
    pub fn map(&mut self, decoded: &DecodedMessage, now: Instant) -> Vec<CapturedEvent> {
        if decoded.msg_id != 0 && !self.remember(decoded.msg_id) {
            self.stats.duplicates += 1;
            tracing::debug!(msg_id = decoded.msg_id, "duplicate message dropped");
            return Vec::new();
        }
        let msg_id = (decoded.msg_id != 0).then_some(decoded.msg_id);
        let mapping = match &decoded.message {
            WebcastMessage::Gift(gift) => return self.map_gift(gift, msg_id, now),
            WebcastMessage::LinkMicBattle(m) => self.battles.battle(m),
            other => map_stateless(other),
        };
        let Some((event_type, data)) = mapping else {
            self.stats.unmapped += 1;
            return Vec::new();
        };
        self.stats.events += 1;
        let timestamp = timestamp(decoded.message.common());
        vec![event(event_type, msg_id, timestamp, None, data)]
    }

    /// Finalises streaks whose end message did not come within the timeout; each yields an
    /// `end` GiftEvent with the streak's total. Call it periodically.
    pub fn expire_streaks(&mut self, now: Instant) -> Vec<CapturedEvent> {
        let expired = self.streaks.expire(now);
        self.timeout_events(expired)
    }

    /// Finalises every open streak (stream end or shutdown).
    pub fn finish_streaks(&mut self, now: Instant) -> Vec<CapturedEvent> {
        let expired = self.streaks.finish_all(now);
        self.timeout_events(expired)
    }

    fn timeout_events(
        &mut self,
        expired: Vec<ExpiredStreak<WebcastGiftMessage>>,
    ) -> Vec<CapturedEvent> {
        self.stats.events += expired.len() as u64;
        expired
            .into_iter()
            .map(|e| {
                let streak = Streak {
                    id: e.key.to_string(),
                    status: StreakStatus::End,
                };
                let end = EndFacts {
                    ending: Ending::Timeout,
                    added_count: e.total,
                };
                let mut event = gift_event(&e.last, None, Some(streak), e.total, Some(end));
                // The closing count is the streak's: its last step may have come out of order.
                event.data["repeat_count"] = e.total.into();
                event
            })
            .collect()
    }

    fn map_gift(
        &mut self,
        gift: &WebcastGiftMessage,
        msg_id: Option<i64>,
        now: Instant,
    ) -> Vec<CapturedEvent> {
        let step = GiftStep {
            sender_id: gift.user.as_ref().map_or(0, |u| u.id),
            group_id: gift.group_id,
            repeat_count: i64::from(gift.repeat_count),
            repeat_end: gift.repeat_end == 1,
            streakable: is_streakable(gift),
        };
        let streak = |key: crate::streak::StreakKey, status| {
            Some(Streak {
                id: key.to_string(),
                status,
            })
        };
        let event = match self.streaks.observe(step, gift.clone(), now) {
            StreakOutcome::Single { total } => gift_event(gift, msg_id, None, total, None),
            StreakOutcome::Step { key, status, total } => {
                let end = (status == StreakStatus::End).then_some(EndFacts {
                    ending: Ending::RepeatEnd,
                    added_count: total,
                });
                gift_event(gift, msg_id, streak(key, status), total, end)
            }
            StreakOutcome::Corrected {
                key,
                total,
                previous,
            } => {
                self.stats.corrected_streaks += 1;
                tracing::debug!(streak = %key, previous, total, "late step corrects a closed streak");
                let end = EndFacts {
                    ending: Ending::LateStep,
                    added_count: total - previous,
                };
                gift_event(
                    gift,
                    msg_id,
                    streak(key, StreakStatus::End),
                    total,
                    Some(end),
                )
            }
            StreakOutcome::Ignored { key } => {
                self.stats.ignored_streak_messages += 1;
                tracing::debug!(streak = %key, "message of a finalised streak ignored");
                return Vec::new();
            }
        };
        self.stats.events += 1;
        vec![event]
    }

    /// Records `msg_id`; false if it was already known.
    fn remember(&mut self, msg_id: i64) -> bool {
        if !self.seen.insert(msg_id) {
            return false;
        }
        self.seen_order.push_back(msg_id);
        if self.seen_order.len() > self.dedupe_capacity {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// Converts TikTok's `create_time` to UTC: milliseconds normally, seconds in some messages
/// (anything below 10^11 cannot be a millisecond timestamp after 1973). Zero or out of range
/// falls back to `fallback`.
pub fn normalise_time(create_time: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    let millis = match create_time {
        t if t <= 0 => return fallback,
        t if t < 100_000_000_000 => t.saturating_mul(1000),
        t => t,
    };
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(fallback)
}

fn timestamp(common: Option<&CommonMessageData>) -> DateTime<Utc> {
    normalise_time(common.map_or(0, |c| c.create_time), Utc::now())
}

fn display_key(common: Option<&CommonMessageData>) -> &str {
    common
        .and_then(|c| c.display_text.as_ref())
        .map_or("", |t| t.key.as_str())
}

/// What a message maps to: the event's type and its `data` (whose `user`, if any, is the
/// acting user).
type Mapping = (EventType, Value);

/// Maps every message type that needs no memory of earlier ones (all but gifts and battles).
/// `None` when the message is not one of our events.
fn map_stateless(message: &WebcastMessage) -> Option<Mapping> {
    Some(match message {
        WebcastMessage::Chat(m) => chat::comment(m),
        WebcastMessage::EmoteChat(m) => chat::emote_comment(m),
        WebcastMessage::ImDelete(m) => chat::comments_deleted(m),
        WebcastMessage::RoomPin(m) => chat::room_pin(m),
        WebcastMessage::QuestionNew(m) => chat::question(m),
        WebcastMessage::Like(m) => audience::like(m),
        WebcastMessage::Member(m) if m.action == audience::MEMBER_JOINED => audience::join(m),
        WebcastMessage::Social(m) => audience::social(m)?,
        WebcastMessage::RoomUserSeq(m) => audience::viewer_count(m),
        WebcastMessage::Control(m) => audience::live_end(m)?,
        WebcastMessage::SubNotify(m) => audience::subscription(m),
        WebcastMessage::Barrage(m) => audience::super_fan(m)?,
        WebcastMessage::Envelope(m) => audience::envelope(m)?,
        WebcastMessage::Poll(m) => interaction::poll(m),
        WebcastMessage::GoalUpdate(m) => interaction::goal(m),
        WebcastMessage::LinkMicArmies(m) => battle::battle_score(m),
        WebcastMessage::Member(_) | WebcastMessage::Gift(_) | WebcastMessage::LinkMicBattle(_) => {
            return None
        }
    })
}

/// An event whose acting user is `data.user` (the user columns are copied from it).
fn event(
    event_type: EventType,
    msg_id: Option<i64>,
    timestamp: DateTime<Utc>,
    streak: Option<Streak>,
    data: Value,
) -> CapturedEvent {
    let user_field = |key: &str| {
        data.get("user")
            .and_then(|u| u.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    CapturedEvent {
        event_type,
        msg_id,
        timestamp,
        user_id: user_field("id"),
        user_unique_id: user_field("unique_id"),
        user_nickname: user_field("nickname"),
        streak,
        data,
        received_at: None,
    }
}
