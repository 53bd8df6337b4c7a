//! Gift events: one per combo step, with the streak's real total (reference §5).

use events::{CapturedEvent, EventType, Streak};
use serde_json::{json, Value};

use super::user::{brief_user_json, user_json};
use super::{event, timestamp};
use crate::proto::WebcastGiftMessage;

/// `Gift.type` of a streakable (combo) gift.
const GIFT_TYPE_STREAKABLE: i32 = 1;

/// Whether a gift message belongs to a streak: `gift.type == 1` (equivalently `gift.combo`).
pub(super) fn is_streakable(gift: &WebcastGiftMessage) -> bool {
    gift.gift
        .as_ref()
        .is_some_and(|g| g.r#type == GIFT_TYPE_STREAKABLE || g.combo)
}

/// How a streak's end came about, for the `finalised_by` key of end events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// TikTok's closing message (`repeat_end`).
    RepeatEnd,
    /// No message for the streak timeout: the capture closed it.
    Timeout,
    /// A step that came after the streak was closed raised its total.
    LateStep,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::RepeatEnd => "repeat_end",
            Ending::Timeout => "timeout",
            Ending::LateStep => "late_step",
        }
    }
}

/// How an end event adds to what came before it: `added_count` is what a service summing the
/// ends of streaks adds (the whole total at a first end, the difference at a correction).
#[derive(Debug, Clone, Copy)]
pub(super) struct EndFacts {
    pub(super) ending: Ending,
    pub(super) added_count: i64,
}

/// A GiftEvent for `gift`; `total` is the streak's real total so far (the count of a single
/// gift), `end` is set on the events that end a streak.
pub(super) fn gift_event(
    gift: &WebcastGiftMessage,
    msg_id: Option<i64>,
    streak: Option<Streak>,
    total: i64,
    end: Option<EndFacts>,
) -> CapturedEvent {
    let info = gift.gift.clone().unwrap_or_default();
    let gift_id = if gift.gift_id != 0 {
        gift.gift_id
    } else {
        info.id
    };
    let is_streaking = streak.as_ref().is_some_and(Streak::is_streaking);
    let diamonds = total.saturating_mul(i64::from(info.diamond_count));
    let from_user = user_json(gift.user.as_ref(), gift.user_identity.as_ref());
    let mut data = json!({
        "gift": {
            "id": gift_id,
            "name": info.name,
            "diamond_count": info.diamond_count,
            "streakable": is_streakable(gift),
            "type": info.r#type,
        },
        "repeat_count": gift.repeat_count,
        "streak_total_count": total,
        "is_streaking": is_streaking,
        "total_diamonds": diamonds,
        "value_usd": diamonds as f64 * events::USD_PER_DIAMOND,
        "group_id": gift.group_id,
        "repeat_end": gift.repeat_end == 1,
        "from_user": from_user.clone(),
        "to_user": gift.to_user.as_ref().map(brief_user_json),
        "user": from_user,
    });
    if let (Some(end), Value::Object(obj)) = (end, &mut data) {
        obj.insert("finalised_by".into(), json!(end.ending.as_str()));
        obj.insert("added_count".into(), json!(end.added_count));
        obj.insert(
            "added_diamonds".into(),
            json!(end
                .added_count
                .saturating_mul(i64::from(info.diamond_count))),
        );
    }
    event(
        EventType::Gift,
        msg_id,
        timestamp(gift.common.as_ref()),
        streak,
        data,
    )
}
