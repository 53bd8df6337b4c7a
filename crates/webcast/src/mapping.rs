//! Mapping of decoded webcast messages to our [`CapturedEvent`]s (DESIGN §4).
//!
//! `data` keeps the original system's event_data keys (see shared/reference/seed-semantics.md)
//! and adds what the protocol gives. Every event that has an acting user carries a `user`
//! object built by [`user_json`]:
//! `{id, unique_id, nickname, sec_uid, avatar_url, verified, follow_role, is_moderator,
//! is_subscriber, is_super_fan, member_level, gifter_level, badges[{scene_type, level, text,
//! url}]}` (plus `is_follower`, `is_gift_giver` when the message carries a user identity).
//!
//! | message | event | `data` keys besides `user` |
//! |---|---|---|
//! | Chat | CommentEvent | `comment`, `content_language`, `at_user{id, unique_id, nickname}`?, `emote_ids`? |
//! | EmoteChat | CommentEvent | `comment: ""`, `is_emote_only: true`, `emote_ids` |
//! | Gift | GiftEvent | `gift{id, name, diamond_count, streakable, type}`, `repeat_count`, `streak_total_count`, `is_streaking`, `total_diamonds`, `value_usd`, `group_id`, `repeat_end`, `from_user` (= `user`), `to_user`, `finalised_by` (`repeat_end` / `timeout`, on end events) |
//! | Like | LikeEvent | `like_count`, `total_likes` |
//! | Member, action 1 | JoinEvent | `member_count` |
//! | Social, action 1 (or key with `follow`) | FollowEvent | `follow_count` |
//! | Social, action 3 (or key with `share`) | ShareEvent | `users_joined` (from `pm_mt_guidance_viewer_N_share`, else null), `share_count`, `share_type`, `share_target` |
//! | SubNotify | SubscribeEvent | `source: "sub_notify"`, `sub_month`, `subscribe_type` |
//! | Barrage with a `ttlive_superfan` key | SubscribeEvent | `source: "barrage"`, `kind` (`super_fan_joined` / `became_super_fan`), `display_key` |
//! | RoomUserSeq | ViewerCountEvent (no user) | `viewer_count` (concurrent), `total_viewers` (cumulative), `top_viewers[{user_id, unique_id, score, rank}]` |
//! | Control, action 3 or 4 | LiveEndEvent (no user) | `action`, `reason` (`ended` / `suspended`), `tips` |
//!
//! Other messages (member actions other than join, control pause/resume, envelopes, other
//! barrages, unknown methods) produce no event. Gift streak events carry
//! `streak = {id: "<sender id>-<group_id>", status}`; a streak closed by the timeout yields
//! a synthesised end event with `msg_id: None`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use events::{CapturedEvent, EventType, Streak, StreakStatus};
use serde_json::{json, Map, Value};

use crate::decode::{DecodedBatch, DecodedMessage, WebcastMessage};
use crate::proto::{
    BadgeStruct, CommonMessageData, User, UserIdentity, WebcastBarrageMessage, WebcastChatMessage,
    WebcastControlMessage, WebcastEmoteChatMessage, WebcastGiftMessage, WebcastLikeMessage,
    WebcastMemberMessage, WebcastRoomUserSeqMessage, WebcastSocialMessage, WebcastSubNotifyMessage,
};
use crate::streak::{ExpiredStreak, GiftStep, StreakOutcome, StreakTracker};

/// `Social.action` of a follow.
const SOCIAL_FOLLOW: i64 = 1;
/// `Social.action` of a share.
const SOCIAL_SHARE: i64 = 3;
/// `Member.action` of a join.
const MEMBER_JOINED: i32 = 1;
/// `Control.action` of a stream ended by the host.
const CONTROL_ENDED: i32 = 3;
/// `Control.action` of a stream ended by moderation.
const CONTROL_SUSPENDED: i32 = 4;
/// `Gift.type` of a streakable (combo) gift.
const GIFT_TYPE_STREAKABLE: i32 = 1;
/// USD per diamond, the estimate used by the original system and TikTokLive.
const USD_PER_DIAMOND: f64 = 0.005;

/// Badge scene types (BadgeStruct field 3) that carry flags we expose.
mod scene {
    pub const ADMIN: i32 = 1;
    pub const SUBSCRIBER: i32 = 4;
    pub const NEW_SUBSCRIBER: i32 = 7;
    pub const USER_GRADE: i32 = 8;
    pub const FANS: i32 = 10;
}

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
            streak_timeout: Duration::from_secs(5),
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
    /// Gift messages of a finalised streak that were ignored.
    pub ignored_streak_messages: u64,
    /// Messages that decoded but map to no event (member actions other than join, control
    /// pause/resume, envelopes, other barrages...).
    pub unmapped: u64,
}

/// Turns decoded messages into events: de-duplicates by msg_id, tracks gift streaks and builds
/// the event_data. One mapper lives as long as a capture session, across reconnects, so that
/// history replayed after a reconnect is not stored twice.
#[derive(Debug)]
pub struct Mapper {
    streaks: StreakTracker<WebcastGiftMessage>,
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
        let event = match &decoded.message {
            WebcastMessage::Gift(gift) => return self.map_gift(gift, msg_id, now),
            other => map_simple(other, msg_id),
        };
        match event {
            Some(event) => {
                self.stats.events += 1;
                vec![event]
            }
            None => {
                self.stats.unmapped += 1;
                Vec::new()
            }
        }
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
                let mut event = gift_event(
                    &e.last,
                    None,
                    Some(Streak {
                        id: e.key.to_string(),
                        status: StreakStatus::End,
                    }),
                    e.total,
                );
                if let Value::Object(data) = &mut event.data {
                    data.insert("repeat_count".into(), json!(e.total));
                    data.insert("finalised_by".into(), json!("timeout"));
                }
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
        let event = match self.streaks.observe(step, gift.clone(), now) {
            StreakOutcome::Single { total } => gift_event(gift, msg_id, None, total),
            StreakOutcome::Step { key, status, total } => {
                let mut event = gift_event(
                    gift,
                    msg_id,
                    Some(Streak {
                        id: key.to_string(),
                        status,
                    }),
                    total,
                );
                if status == StreakStatus::End {
                    if let Value::Object(data) = &mut event.data {
                        data.insert("finalised_by".into(), json!("repeat_end"));
                    }
                }
                event
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

/// Whether a gift message belongs to a streak: `gift.type == 1` (equivalently `gift.combo`).
fn is_streakable(gift: &WebcastGiftMessage) -> bool {
    gift.gift
        .as_ref()
        .is_some_and(|g| g.r#type == GIFT_TYPE_STREAKABLE || g.combo)
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

/// What a message maps to: the event's type, its acting user and its `data`.
type Mapping<'a> = (EventType, Option<&'a User>, Value);

/// Maps every message type except gifts. `None` when the message is not one of our events.
fn map_simple(message: &WebcastMessage, msg_id: Option<i64>) -> Option<CapturedEvent> {
    let (event_type, user, data) = match message {
        WebcastMessage::Chat(m) => comment(m),
        WebcastMessage::EmoteChat(m) => emote_comment(m),
        WebcastMessage::Like(m) => like(m),
        WebcastMessage::Member(m) if m.action == MEMBER_JOINED => join(m),
        WebcastMessage::Social(m) => social(m)?,
        WebcastMessage::RoomUserSeq(m) => viewer_count(m),
        WebcastMessage::Control(m) => live_end(m)?,
        WebcastMessage::SubNotify(m) => subscription(m),
        WebcastMessage::Barrage(m) => super_fan(m)?,
        WebcastMessage::Member(_) | WebcastMessage::Envelope(_) | WebcastMessage::Gift(_) => {
            return None
        }
    };
    let timestamp = timestamp(message.common());
    Some(event(event_type, msg_id, timestamp, user, None, data))
}

fn comment(m: &WebcastChatMessage) -> Mapping<'_> {
    let mut data = json!({
        "comment": m.content,
        "content_language": m.content_language,
        "user": user_json(m.user.as_ref(), m.user_identity.as_ref()),
    });
    if let Some(at) = &m.at_user {
        data["at_user"] = brief_user_json(at);
    }
    if !m.emotes.is_empty() {
        data["emote_ids"] = json!(m
            .emotes
            .iter()
            .filter_map(|e| e.emote.as_ref().map(|e| e.emote_id.clone()))
            .collect::<Vec<_>>());
    }
    (EventType::Comment, m.user.as_ref(), data)
}

fn emote_comment(m: &WebcastEmoteChatMessage) -> Mapping<'_> {
    let data = json!({
        "comment": "",
        "is_emote_only": true,
        "emote_ids": m.emote_list.iter().map(|e| e.emote_id.clone()).collect::<Vec<_>>(),
        "user": user_json(m.user.as_ref(), m.user_identity.as_ref()),
    });
    (EventType::Comment, m.user.as_ref(), data)
}

fn like(m: &WebcastLikeMessage) -> Mapping<'_> {
    let data = json!({
        "like_count": m.count,
        "total_likes": m.total,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Like, m.user.as_ref(), data)
}

fn join(m: &WebcastMemberMessage) -> Mapping<'_> {
    let data = json!({
        "member_count": m.member_count,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Join, m.user.as_ref(), data)
}

fn viewer_count(m: &WebcastRoomUserSeqMessage) -> Mapping<'_> {
    let data = json!({
        "viewer_count": m.total,
        "total_viewers": m.total_user,
        "top_viewers": m.ranks.iter().map(|r| json!({
            "user_id": r.user.as_ref().map(|u| u.id.to_string()),
            "unique_id": r.user.as_ref().map(|u| u.display_id.clone()),
            "score": r.score,
            "rank": r.rank,
        })).collect::<Vec<_>>(),
    });
    (EventType::ViewerCount, None, data)
}

/// The end of the stream (by the host or by moderation); pause and resume map to nothing.
fn live_end(m: &WebcastControlMessage) -> Option<Mapping<'_>> {
    let reason = match m.action {
        CONTROL_ENDED => "ended",
        CONTROL_SUSPENDED => "suspended",
        _ => return None,
    };
    let data = json!({ "action": m.action, "reason": reason, "tips": m.tips });
    Some((EventType::LiveEnd, None, data))
}

fn subscription(m: &WebcastSubNotifyMessage) -> Mapping<'_> {
    let data = json!({
        "source": "sub_notify",
        "sub_month": m.sub_month,
        "subscribe_type": m.subscribe_type,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Subscribe, m.user.as_ref(), data)
}

fn event(
    event_type: EventType,
    msg_id: Option<i64>,
    timestamp: DateTime<Utc>,
    user: Option<&User>,
    streak: Option<Streak>,
    data: Value,
) -> CapturedEvent {
    CapturedEvent {
        event_type,
        msg_id,
        timestamp,
        user_id: user.map(user_id),
        user_unique_id: user.map(|u| u.display_id.clone()).filter(|s| !s.is_empty()),
        user_nickname: user.map(|u| u.nickname.clone()).filter(|s| !s.is_empty()),
        streak,
        data,
        received_at: None,
    }
}

/// Follow or share: `action` 1/3 first, `display_text.key` as the fallback.
fn social(m: &WebcastSocialMessage) -> Option<Mapping<'_>> {
    let key = display_key(m.common.as_ref()).to_ascii_lowercase();
    let event_type = match m.action {
        SOCIAL_FOLLOW => EventType::Follow,
        SOCIAL_SHARE => EventType::Share,
        _ if key.contains("follow") => EventType::Follow,
        _ if key.contains("share") => EventType::Share,
        _ => return None,
    };
    let user = user_json(m.user.as_ref(), None);
    let data = if event_type == EventType::Follow {
        json!({ "follow_count": m.follow_count, "user": user })
    } else {
        json!({
            "users_joined": users_joined(&key),
            "share_count": m.share_count,
            "share_type": m.share_type,
            "share_target": m.share_target,
            "user": user,
        })
    };
    Some((event_type, m.user.as_ref(), data))
}

/// The number in `pm_mt_guidance_viewer_<N>_share`: how many viewers joined through the share.
fn users_joined(key: &str) -> Option<i64> {
    key.strip_prefix("pm_mt_guidance_viewer_")?
        .strip_suffix("_share")?
        .parse()
        .ok()
}

/// Super-fan detection on a barrage (reference §4.9): the content or common-barrage key
/// contains `ttlive_superfan`.
fn super_fan(m: &WebcastBarrageMessage) -> Option<Mapping<'_>> {
    let key = [m.content.as_ref(), m.common_barrage_content.as_ref()]
        .into_iter()
        .flatten()
        .map(|t| t.key.to_ascii_lowercase())
        .find(|k| k.contains("ttlive_superfan"))?;
    let kind = if key.contains("ttlive_superfan_commentnotif_superfanjoined") {
        "super_fan_joined"
    } else {
        "became_super_fan"
    };
    let user = barrage_user(m);
    let data = json!({
        "source": "barrage",
        "kind": kind,
        "display_key": key,
        "user": user_json(user, None),
    });
    Some((EventType::Subscribe, user, data))
}

/// The user a barrage is about: the grade or fan-level param's user, else the first user piece
/// of its content.
pub fn barrage_user(m: &WebcastBarrageMessage) -> Option<&User> {
    m.user_grade_param
        .as_ref()
        .and_then(|p| p.user.as_ref())
        .or_else(|| m.fans_level_param.as_ref().and_then(|p| p.user.as_ref()))
        .or_else(|| {
            m.content
                .iter()
                .chain(m.common_barrage_content.iter())
                .flat_map(|t| t.pieces.iter())
                .find_map(|p| p.user_value.as_ref().and_then(|u| u.user.as_ref()))
        })
}

fn gift_event(
    gift: &WebcastGiftMessage,
    msg_id: Option<i64>,
    streak: Option<Streak>,
    total: i64,
) -> CapturedEvent {
    let info = gift.gift.clone().unwrap_or_default();
    let gift_id = if gift.gift_id != 0 {
        gift.gift_id
    } else {
        info.id
    };
    let streakable = is_streakable(gift);
    let is_streaking = streak.as_ref().is_some_and(Streak::is_streaking);
    let diamonds = total.saturating_mul(i64::from(info.diamond_count));
    let from_user = user_json(gift.user.as_ref(), gift.user_identity.as_ref());
    let data = json!({
        "gift": {
            "id": gift_id,
            "name": info.name,
            "diamond_count": info.diamond_count,
            "streakable": streakable,
            "type": info.r#type,
        },
        "repeat_count": gift.repeat_count,
        "streak_total_count": total,
        "is_streaking": is_streaking,
        "total_diamonds": diamonds,
        "value_usd": diamonds as f64 * USD_PER_DIAMOND,
        "group_id": gift.group_id,
        "repeat_end": gift.repeat_end == 1,
        "from_user": from_user.clone(),
        "to_user": gift.to_user.as_ref().map(brief_user_json),
        "user": from_user,
    });
    event(
        EventType::Gift,
        msg_id,
        timestamp(gift.common.as_ref()),
        gift.user.as_ref(),
        streak,
        data,
    )
}

fn user_id(user: &User) -> String {
    if user.id != 0 {
        user.id.to_string()
    } else {
        user.id_str.clone()
    }
}

fn avatar_url(user: &User) -> Option<&str> {
    [&user.avatar_large, &user.avatar_medium, &user.avatar_thumb]
        .into_iter()
        .flatten()
        .find_map(|img| img.url_list.first())
        .map(String::as_str)
}

/// `{id, unique_id, nickname}`: the short form used for a gift's recipient and @mentions.
fn brief_user_json(user: &User) -> Value {
    json!({
        "id": user_id(user),
        "unique_id": user.display_id,
        "nickname": user.nickname,
    })
}

/// The `user` object of event_data: identity, avatar, follow role and the flags derived from
/// badges (moderator, subscriber, gifter level, member level). `null` when there is no user.
pub fn user_json(user: Option<&User>, identity: Option<&UserIdentity>) -> Value {
    let Some(user) = user else {
        return Value::Null;
    };
    let badges = &user.badge_list;
    let has_scene = |scenes: &[i32]| badges.iter().any(|b| scenes.contains(&b.scene_type));
    let is_moderator = has_scene(&[scene::ADMIN])
        || badges.iter().any(|b| badge_text(b).contains("moderator"))
        || identity.is_some_and(|i| i.is_moderator_of_anchor)
        || user
            .user_attr
            .as_ref()
            .is_some_and(|a| a.is_admin || a.is_super_admin);
    let is_subscriber = has_scene(&[scene::SUBSCRIBER, scene::NEW_SUBSCRIBER])
        || identity.is_some_and(|i| i.is_subscriber_of_anchor);
    let mut obj = Map::new();
    obj.insert("id".into(), json!(user_id(user)));
    obj.insert("unique_id".into(), json!(user.display_id));
    obj.insert("nickname".into(), json!(user.nickname));
    obj.insert("sec_uid".into(), json!(user.sec_uid));
    obj.insert("avatar_url".into(), json!(avatar_url(user)));
    obj.insert("verified".into(), json!(user.verified));
    obj.insert(
        "follow_role".into(),
        json!(user.follow_info.as_ref().map_or(0, |f| f.follow_status)),
    );
    obj.insert("is_moderator".into(), json!(is_moderator));
    obj.insert("is_subscriber".into(), json!(is_subscriber));
    // TikTokLive calls UserIdentity.is_subscriber_of_anchor "super fan".
    obj.insert(
        "is_super_fan".into(),
        json!(identity.is_some_and(|i| i.is_subscriber_of_anchor)),
    );
    obj.insert(
        "member_level".into(),
        json!(badge_level(badges, scene::FANS)),
    );
    obj.insert(
        "gifter_level".into(),
        json!(badge_level(badges, scene::USER_GRADE)),
    );
    if let Some(i) = identity {
        obj.insert("is_follower".into(), json!(i.is_follower_of_anchor));
        obj.insert("is_gift_giver".into(), json!(i.is_gift_giver_of_anchor));
    }
    obj.insert(
        "badges".into(),
        Value::Array(badges.iter().map(badge_json).collect()),
    );
    Value::Object(obj)
}

fn badge_text(b: &BadgeStruct) -> String {
    let mut text = String::new();
    if let Some(t) = &b.text {
        text.push_str(&t.key);
        text.push_str(&t.default_pattern);
    }
    if let Some(s) = &b.str {
        text.push_str(&s.str);
    }
    text.to_ascii_lowercase()
}

/// The level of the first badge of `scene` (a decimal string on the wire), 0 when absent.
fn badge_level(badges: &[BadgeStruct], scene: i32) -> i64 {
    badges
        .iter()
        .filter(|b| b.scene_type == scene)
        .find_map(|b| b.privilege_log_extra.as_ref()?.level.parse().ok())
        .unwrap_or(0)
}

fn badge_json(b: &BadgeStruct) -> Value {
    let level = b
        .privilege_log_extra
        .as_ref()
        .and_then(|p| p.level.parse::<i64>().ok());
    let text = b
        .text
        .as_ref()
        .map(|t| t.key.clone())
        .or_else(|| b.str.as_ref().map(|s| s.str.clone()))
        .or_else(|| b.combine.as_ref().map(|c| c.str.clone()))
        .filter(|s| !s.is_empty());
    let url = b
        .image
        .as_ref()
        .and_then(|i| i.image.as_ref())
        .or_else(|| b.combine.as_ref().and_then(|c| c.icon.as_ref()))
        .and_then(|img| img.url_list.first());
    json!({ "scene_type": b.scene_type, "level": level, "text": text, "url": url })
}
