//! The chat: comments (with emotes), sticker-only comments, comments a moderator deleted,
//! pinned comments and viewers' questions.

use events::EventType;
use serde_json::{json, Value};

use super::user::{brief_user_json, id_string, user_json};
use super::Mapping;
use crate::proto::{
    EmoteModel, WebcastChatMessage, WebcastEmoteChatMessage, WebcastImDeleteMessage,
    WebcastQuestionNewMessage, WebcastRoomPinMessage,
};

/// `RoomPin.action` of an unpin.
const PIN_CANCEL: i32 = 2;

pub(super) fn comment(m: &WebcastChatMessage) -> Mapping {
    let mut data = json!({
        "comment": m.content,
        "content_language": m.content_language,
        "user": user_json(m.user.as_ref(), m.user_identity.as_ref()),
    });
    if let Some(at) = &m.at_user {
        data["at_user"] = brief_user_json(at);
    }
    let emotes: Vec<&EmoteModel> = m.emotes.iter().filter_map(|e| e.emote.as_ref()).collect();
    if !emotes.is_empty() {
        data["emote_ids"] = json!(emotes.iter().map(|e| &e.emote_id).collect::<Vec<_>>());
        data["emotes"] = emotes_json(emotes.iter().copied());
    }
    (EventType::Comment, data)
}

/// A sticker-only comment: a CommentEvent with an empty `comment`, the first emote's id and
/// image as `emote_id` / `emote_image_url`, and every emote in `emotes`.
pub(super) fn emote_comment(m: &WebcastEmoteChatMessage) -> Mapping {
    let first = m.emote_list.first();
    let data = json!({
        "comment": "",
        "is_emote_only": true,
        "emote_id": first.map(|e| &e.emote_id),
        "emote_image_url": first.and_then(emote_image_url),
        "emote_ids": m.emote_list.iter().map(|e| &e.emote_id).collect::<Vec<_>>(),
        "emotes": emotes_json(m.emote_list.iter()),
        "user": user_json(m.user.as_ref(), m.user_identity.as_ref()),
    });
    (EventType::Comment, data)
}

fn emote_image_url(emote: &EmoteModel) -> Option<&str> {
    emote
        .image
        .as_ref()
        .and_then(|i| i.url_list.first())
        .map(String::as_str)
}

/// `[{id, image_url}]`.
fn emotes_json<'a>(emotes: impl Iterator<Item = &'a EmoteModel>) -> Value {
    emotes
        .map(|e| json!({"id": e.emote_id, "image_url": emote_image_url(e)}))
        .collect()
}

/// Comments a moderator deleted: their msg_ids (numbers, like every msg_id), and the ids of
/// users all of whose comments went (strings, like every user id). No acting user.
pub(super) fn comments_deleted(m: &WebcastImDeleteMessage) -> Mapping {
    let data = json!({
        "deleted_msg_ids": m.delete_msg_ids,
        "deleted_user_ids": m.delete_user_ids.iter().map(i64::to_string).collect::<Vec<_>>(),
    });
    (EventType::CommentDeleted, data)
}

/// A pinned (or unpinned) comment: its text, its author as the acting user, and the one who
/// pinned it as `operator`.
pub(super) fn room_pin(m: &WebcastRoomPinMessage) -> Mapping {
    let chat = m.chat_message.as_ref();
    let author = chat.and_then(|c| c.user.as_ref());
    let pinned_msg_id = match m.pin_msg_id {
        0 => chat.and_then(|c| c.common.as_ref()).map(|c| c.msg_id),
        id => Some(id),
    }
    .filter(|id| *id != 0);
    let data = json!({
        "action": if m.action == PIN_CANCEL { "unpin" } else { "pin" },
        "comment": chat.map_or("", |c| c.content.as_str()),
        "pinned_msg_id": pinned_msg_id,
        "display_duration": m.display_duration,
        "operator": m.operator.as_ref().map(brief_user_json),
        "user": user_json(author, chat.and_then(|c| c.user_identity.as_ref())),
    });
    (EventType::RoomPin, data)
}

/// A viewer's question (Q&A).
pub(super) fn question(m: &WebcastQuestionNewMessage) -> Mapping {
    let q = m.data.clone().unwrap_or_default();
    let user = m.data.as_ref().and_then(|q| q.user.as_ref());
    let data = json!({
        "question_id": id_string(q.question_id),
        "question": q.content,
        "user": user_json(user, None),
    });
    (EventType::Question, data)
}
