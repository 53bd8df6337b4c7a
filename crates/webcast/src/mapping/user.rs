//! The `user` object of event_data, and the short forms used for recipients, mentions, poll
//! operators and battle hosts.

use serde_json::{json, Map, Value};

use crate::proto::{BadgeStruct, Text, User, UserIdentity};

/// Badge scene types (BadgeStruct field 3) that carry flags we expose.
mod scene {
    pub const ADMIN: i32 = 1;
    pub const SUBSCRIBER: i32 = 4;
    pub const NEW_SUBSCRIBER: i32 = 7;
    pub const USER_GRADE: i32 = 8;
    pub const FANS: i32 = 10;
}

/// The user's numeric id as a string: `id`, else `id_str`.
pub(super) fn user_id(user: &User) -> String {
    if user.id != 0 {
        user.id.to_string()
    } else {
        user.id_str.clone()
    }
}

/// A numeric id as event_data writes user ids: a string, `null` for 0 (absent).
pub(super) fn id_string(id: i64) -> Value {
    if id == 0 {
        Value::Null
    } else {
        json!(id.to_string())
    }
}

fn avatar_url(user: &User) -> Option<&str> {
    [&user.avatar_large, &user.avatar_medium, &user.avatar_thumb]
        .into_iter()
        .flatten()
        .find_map(|img| img.url_list.first())
        .map(String::as_str)
}

/// `{id, unique_id, nickname}`: the short form used for a gift's recipient, @mentions and the
/// people around an event (a poll's operator, a pin's moderator).
pub(super) fn brief_user_json(user: &User) -> Value {
    json!({
        "id": user_id(user),
        "unique_id": user.display_id,
        "nickname": user.nickname,
    })
}

/// The first user placeholder of a display text ("{0:user} sent a Treasure Box").
pub(super) fn first_user_piece(text: Option<&Text>) -> Option<&User> {
    text?
        .pieces
        .iter()
        .find_map(|p| p.user_value.as_ref().and_then(|u| u.user.as_ref()))
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
