//! What the audience does besides chatting and gifting (likes, joins, follows, shares,
//! subscriptions, treasure boxes) and what the room reports about itself (viewer counts, the
//! stream's end).

use events::EventType;
use serde_json::json;

use super::user::{first_user_piece, user_json};
use super::{display_key, Mapping};
use crate::proto::{
    ImageModel, User, WebcastBarrageMessage, WebcastControlMessage, WebcastEnvelopeMessage,
    WebcastLikeMessage, WebcastMemberMessage, WebcastRoomUserSeqMessage, WebcastSocialMessage,
    WebcastSubNotifyMessage,
};

/// `Social.action` of a follow.
const SOCIAL_FOLLOW: i64 = 1;
/// `Social.action` of a share.
const SOCIAL_SHARE: i64 = 3;
/// `Member.action` of a join.
pub(super) const MEMBER_JOINED: i32 = 1;
/// `Control.action` of a stream ended by the host.
const CONTROL_ENDED: i32 = 3;
/// `Control.action` of a stream ended by moderation.
const CONTROL_SUSPENDED: i32 = 4;
/// `Envelope.display` of a box that went away (no sender, no diamonds: nothing happened).
const ENVELOPE_HIDE: i32 = 2;
/// `EnvelopeInfo.business_type` of a super-fan box.
const ENVELOPE_SUPER_FAN_BOX: i32 = 19;

pub(super) fn like(m: &WebcastLikeMessage) -> Mapping {
    let data = json!({
        "like_count": m.count,
        "total_likes": m.total,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Like, data)
}

pub(super) fn join(m: &WebcastMemberMessage) -> Mapping {
    let data = json!({
        "member_count": m.member_count,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Join, data)
}

pub(super) fn viewer_count(m: &WebcastRoomUserSeqMessage) -> Mapping {
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
    (EventType::ViewerCount, data)
}

/// The end of the stream (by the host or by moderation); pause and resume map to nothing.
pub(super) fn live_end(m: &WebcastControlMessage) -> Option<Mapping> {
    let reason = match m.action {
        CONTROL_ENDED => "ended",
        CONTROL_SUSPENDED => "suspended",
        _ => return None,
    };
    let data = json!({ "action": m.action, "reason": reason, "tips": m.tips });
    Some((EventType::LiveEnd, data))
}

pub(super) fn subscription(m: &WebcastSubNotifyMessage) -> Mapping {
    let data = json!({
        "source": "sub_notify",
        "sub_month": m.sub_month,
        "subscribe_type": m.subscribe_type,
        "user": user_json(m.user.as_ref(), None),
    });
    (EventType::Subscribe, data)
}

/// Follow or share: `action` 1/3 first, `display_text.key` as the fallback.
pub(super) fn social(m: &WebcastSocialMessage) -> Option<Mapping> {
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
    Some((event_type, data))
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
pub(super) fn super_fan(m: &WebcastBarrageMessage) -> Option<Mapping> {
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
    Some((EventType::Subscribe, data))
}

/// The user a barrage is about: its own `user` (field 50), else the grade or fan-level param's
/// user, else the first user piece of its content.
pub fn barrage_user(m: &WebcastBarrageMessage) -> Option<&User> {
    m.user
        .as_ref()
        .or_else(|| m.user_grade_param.as_ref().and_then(|p| p.user.as_ref()))
        .or_else(|| m.fans_level_param.as_ref().and_then(|p| p.user.as_ref()))
        .or_else(|| first_user_piece(m.content.as_ref()))
        .or_else(|| first_user_piece(m.common_barrage_content.as_ref()))
}

/// A treasure box: who sent it, its diamonds and how many viewers can open it. The sender is
/// the display text's user when it has one (a whole user), else the envelope's own sender
/// fields. A box going away (`display` hide) is no event.
pub(super) fn envelope(m: &WebcastEnvelopeMessage) -> Option<Mapping> {
    if m.display == ENVELOPE_HIDE {
        return None;
    }
    let info = m.envelope_info.clone().unwrap_or_default();
    let text_sender = first_user_piece(m.common.as_ref().and_then(|c| c.display_text.as_ref()));
    let info_sender = (!info.send_user_id.is_empty()).then(|| User {
        id: info.send_user_id.parse().unwrap_or_default(),
        id_str: info.send_user_id.clone(),
        display_id: info.send_user_name.clone(),
        avatar_thumb: info.send_user_avatar.clone().map(|img| ImageModel {
            url_list: img.url_list,
            ..Default::default()
        }),
        ..Default::default()
    });
    let sender = text_sender.or(info_sender.as_ref());
    let data = json!({
        "envelope_id": info.envelope_id,
        "diamonds": info.diamond_count,
        "people": info.people_count,
        "business_type": info.business_type,
        "is_super_fan_box": info.business_type == ENVELOPE_SUPER_FAN_BOX
            || display_key(m.common.as_ref()).to_ascii_lowercase().contains("ttlive_superfanbox"),
        "unpack_at": (info.unpack_at > 0).then_some(info.unpack_at),
        "user": user_json(sender, None),
    });
    Some((EventType::Envelope, data))
}
