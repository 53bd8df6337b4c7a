//! Builders of realistic webcast messages (used by the simulator and by tests).

use webcast::decode::WebcastMessage;
use webcast::proto::{
    BadgeStruct, BarrageUserGradeParam, CommonMessageData, Contributor, FollowInfo, Gift,
    ImageModel, PrivilegeLogExtra, Text, User, UserIdentity, WebcastBarrageMessage,
    WebcastChatMessage, WebcastControlMessage, WebcastGiftMessage, WebcastLikeMessage,
    WebcastMemberMessage, WebcastRoomUserSeqMessage, WebcastSocialMessage, WebcastSubNotifyMessage,
};

/// A gift of the simulator's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftInfo {
    /// TikTok's gift id.
    pub id: i64,
    /// Display name.
    pub name: &'static str,
    /// Price in diamonds.
    pub diamonds: i32,
    /// `Gift.type`: 1 streakable, 2 or 4 sent once.
    pub gift_type: i32,
}

/// A few real gifts (ids, prices and types as seen in the captures).
pub const CATALOGUE: &[GiftInfo] = &[
    GiftInfo {
        id: 5655,
        name: "Rose",
        diamonds: 1,
        gift_type: 1,
    },
    GiftInfo {
        id: 5487,
        name: "Finger Heart",
        diamonds: 5,
        gift_type: 1,
    },
    GiftInfo {
        id: 5269,
        name: "TikTok",
        diamonds: 1,
        gift_type: 1,
    },
    GiftInfo {
        id: 7934,
        name: "Heart Me",
        diamonds: 1,
        gift_type: 4,
    },
    GiftInfo {
        id: 8913,
        name: "LIVE Fest Clappers",
        diamonds: 100,
        gift_type: 2,
    },
    GiftInfo {
        id: 11046,
        name: "Galaxy",
        diamonds: 1000,
        gift_type: 2,
    },
];

/// The catalogue gift named `name` (case-insensitive); an unknown name becomes a streakable
/// 1-diamond gift with a stable made-up id.
pub fn gift_by_name(name: &str) -> GiftInfo {
    CATALOGUE
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or(GiftInfo {
            id: 900_000 + (stable_hash(name) % 100_000) as i64,
            name: "Custom",
            diamonds: 1,
            gift_type: 1,
        })
}

/// FNV-1a: a stable id from a name, so the same handle always gets the same user id.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A user with a stable id derived from the handle, an avatar, and badges: a gifter level
/// from the handle's hash, plus a moderator badge when the handle starts with `mod`.
pub fn user(handle: &str) -> User {
    let id = 1_000_000_000_000_000_000 + (stable_hash(handle) % 1_000_000_000) as i64;
    let mut badges = vec![BadgeStruct {
        scene_type: 8,
        privilege_log_extra: Some(PrivilegeLogExtra {
            level: (1 + stable_hash(handle) % 40).to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if handle.starts_with("mod") {
        badges.push(BadgeStruct {
            scene_type: 1,
            text: Some(webcast::proto::TextBadge {
                key: "pm_mt_moderator_im".into(),
                default_pattern: "Moderator".into(),
            }),
            ..Default::default()
        });
    }
    User {
        id,
        nickname: handle.to_owned(),
        display_id: handle.to_owned(),
        id_str: id.to_string(),
        avatar_thumb: Some(ImageModel {
            url_list: vec![format!("https://example.invalid/avatar/{handle}.webp")],
            ..Default::default()
        }),
        follow_info: Some(FollowInfo {
            follow_status: (stable_hash(handle) % 3) as i64,
            ..Default::default()
        }),
        badge_list: badges,
        ..Default::default()
    }
}

/// The common data of a message.
pub fn common(
    method: &str,
    msg_id: i64,
    room_id: i64,
    create_time_ms: i64,
    key: &str,
) -> CommonMessageData {
    CommonMessageData {
        method: method.to_owned(),
        msg_id,
        room_id,
        create_time: create_time_ms,
        display_text: (!key.is_empty()).then(|| Text {
            key: key.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Envelope facts shared by every builder.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// The message id.
    pub msg_id: i64,
    /// The room.
    pub room_id: i64,
    /// create_time in ms.
    pub now_ms: i64,
}

impl Meta {
    fn common(&self, method: &str, key: &str) -> Option<CommonMessageData> {
        Some(common(method, self.msg_id, self.room_id, self.now_ms, key))
    }
}

/// A comment.
pub fn comment(meta: Meta, handle: &str, text: &str) -> WebcastMessage {
    WebcastMessage::Chat(WebcastChatMessage {
        common: meta.common("WebcastChatMessage", ""),
        user: Some(user(handle)),
        content: text.to_owned(),
        content_language: "en".into(),
        user_identity: Some(UserIdentity {
            is_moderator_of_anchor: handle.starts_with("mod"),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// One gift message. For a streakable gift, `group_id` identifies the streak.
pub fn gift(
    meta: Meta,
    handle: &str,
    info: &GiftInfo,
    repeat_count: i32,
    repeat_end: bool,
    group_id: i64,
) -> WebcastMessage {
    let streakable = info.gift_type == 1;
    WebcastMessage::Gift(WebcastGiftMessage {
        common: meta.common("WebcastGiftMessage", "webcast_aweme_gift_send_message"),
        gift_id: info.id,
        group_count: 1,
        repeat_count,
        combo_count: repeat_count,
        user: Some(user(handle)),
        repeat_end: i32::from(repeat_end),
        group_id: if streakable { group_id } else { 0 },
        gift: Some(Gift {
            id: info.id,
            name: info.name.to_owned(),
            diamond_count: info.diamonds,
            r#type: info.gift_type,
            combo: streakable,
            ..Default::default()
        }),
        send_type: if repeat_end { 0 } else { 1 },
        ..Default::default()
    })
}

/// A batch of likes.
pub fn like(meta: Meta, handle: &str, count: i32, total: i64) -> WebcastMessage {
    WebcastMessage::Like(WebcastLikeMessage {
        common: meta.common("WebcastLikeMessage", "pm_mt_msg_viewer"),
        count,
        total,
        user: Some(user(handle)),
        ..Default::default()
    })
}

/// A viewer joined.
pub fn join(meta: Meta, handle: &str, member_count: i32) -> WebcastMessage {
    WebcastMessage::Member(WebcastMemberMessage {
        common: meta.common("WebcastMemberMessage", "live_room_enter_toast"),
        user: Some(user(handle)),
        member_count,
        action: 1,
        ..Default::default()
    })
}

/// A follow (action 1) or a share (action 3).
pub fn social(meta: Meta, handle: &str, action: i64, count: i64) -> WebcastMessage {
    let key = if action == 1 {
        "pm_main_follow_message_viewer_2"
    } else {
        "pm_mt_guidance_share"
    };
    WebcastMessage::Social(WebcastSocialMessage {
        common: meta.common("WebcastSocialMessage", key),
        user: Some(user(handle)),
        action,
        follow_count: if action == 1 { count } else { 0 },
        share_count: if action == 3 { count as i32 } else { 0 },
        share_target: if action == 1 {
            "2000000000000000001".into()
        } else {
            "-1".into()
        },
        ..Default::default()
    })
}

/// A subscription.
pub fn subscribe(meta: Meta, handle: &str, months: i64) -> WebcastMessage {
    WebcastMessage::SubNotify(WebcastSubNotifyMessage {
        common: meta.common("WebcastSubNotifyMessage", "pm_mt_goal_progress_comment"),
        user: Some(user(handle)),
        sub_month: months,
        ..Default::default()
    })
}

/// A "became a super fan" barrage.
pub fn super_fan(meta: Meta, handle: &str) -> WebcastMessage {
    WebcastMessage::Barrage(WebcastBarrageMessage {
        common: meta.common("WebcastBarrageMessage", ""),
        msg_type: 4,
        content: Some(Text {
            key: "ttlive_superfan_became_superfan".into(),
            ..Default::default()
        }),
        user_grade_param: Some(BarrageUserGradeParam {
            user: Some(user(handle)),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Viewer statistics.
pub fn viewers(meta: Meta, total: i64, total_user: i64, top: &[&str]) -> WebcastMessage {
    WebcastMessage::RoomUserSeq(WebcastRoomUserSeqMessage {
        common: meta.common("WebcastRoomUserSeqMessage", ""),
        ranks: top
            .iter()
            .enumerate()
            .map(|(i, h)| Contributor {
                score: 100 - i as i64,
                user: Some(user(h)),
                rank: i as i64 + 1,
                ..Default::default()
            })
            .collect(),
        total,
        total_user,
        ..Default::default()
    })
}

/// Stream state change (3 = ended).
pub fn control(meta: Meta, action: i32) -> WebcastMessage {
    WebcastMessage::Control(WebcastControlMessage {
        common: meta.common("WebcastControlMessage", ""),
        action,
        ..Default::default()
    })
}
