//! Synthetic LIVE traffic for benchmarks and tests: the original system's overload scenario
//! (a burst dominated by likes and comments, with gifts, follows and shares mixed in).

use chrono::{TimeDelta, Utc};
use core_models::{CapturedEvent, EventType, Streak, StreakStatus};
use serde_json::json;

/// The burst mix of the original's overload scenario, in percent: 60 like, 25 comment, 8 join,
/// 4 gift, 2 follow, 1 share.
pub const OVERLOAD_MIX: &[(EventType, u32)] = &[
    (EventType::Like, 60),
    (EventType::Comment, 25),
    (EventType::Join, 8),
    (EventType::Gift, 4),
    (EventType::Follow, 2),
    (EventType::Share, 1),
];

/// `n` events drawn from `mix` (weights in any unit) with a fixed `seed`, message ids
/// `first_msg_id..first_msg_id + n`, and payloads shaped like the event_data contract.
/// Deterministic: the same arguments give the same events (timestamps aside).
pub fn burst(
    n: usize,
    mix: &[(EventType, u32)],
    seed: u64,
    first_msg_id: i64,
) -> Vec<CapturedEvent> {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut rng = XorShift(seed.max(1));
    let start = Utc::now();
    (0..n)
        .map(|i| {
            let roll = if total == 0 {
                0
            } else {
                (rng.next() % u64::from(total)) as u32
            };
            let mut acc = 0;
            let ty = mix
                .iter()
                .find(|(_, w)| {
                    acc += w;
                    roll < acc
                })
                .map_or(EventType::Like, |(t, _)| *t);
            let user = rng.next() % 5000;
            synthetic(
                ty,
                first_msg_id + i as i64,
                user,
                start + TimeDelta::milliseconds(i as i64),
            )
        })
        .collect()
}

/// One synthetic event of a type, from user number `user`.
fn synthetic(ty: EventType, msg_id: i64, user: u64, at: chrono::DateTime<Utc>) -> CapturedEvent {
    let unique_id = format!("viewer_{user}");
    let nickname = format!("Viewer {user} ✨");
    let who = json!({"unique_id": unique_id, "nickname": nickname});
    let (data, streak) = match ty {
        EventType::Comment => (
            json!({"comment": format!("hello from viewer {user} 👋"),
                   "user": {"is_moderator": false, "member_level": 0, "gifter_level": 0, "badges": []}}),
            None,
        ),
        EventType::Gift => (
            json!({"gift": {"id": 5655, "name": "Rose", "diamond_count": 1, "streakable": true},
                   "repeat_count": 1, "streak_total_count": 1, "is_streaking": true,
                   "from_user": {"id": user.to_string(), "unique_id": unique_id, "nickname": nickname},
                   "to_user": {"id": "1", "unique_id": "streamer"}}),
            Some(Streak {
                id: format!("{user}-5655-{msg_id}"),
                status: StreakStatus::Start,
            }),
        ),
        EventType::Like => (
            json!({"like_count": 5, "total_likes": msg_id * 5, "user": who}),
            None,
        ),
        _ => (json!({"user": who}), None),
    };
    CapturedEvent {
        event_type: ty,
        msg_id: Some(msg_id),
        timestamp: at,
        user_id: Some(user.to_string()),
        user_unique_id: Some(unique_id),
        user_nickname: Some(nickname),
        streak,
        data,
        received_at: None,
    }
}

/// xorshift64: tiny, deterministic, good enough to shuffle a traffic mix.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_mix_and_is_deterministic() {
        let a = burst(10_000, OVERLOAD_MIX, 7, 100);
        let b = burst(10_000, OVERLOAD_MIX, 7, 100);
        assert_eq!(
            a.iter()
                .map(|e| (e.event_type, e.msg_id))
                .collect::<Vec<_>>(),
            b.iter()
                .map(|e| (e.event_type, e.msg_id))
                .collect::<Vec<_>>()
        );
        let likes = a.iter().filter(|e| e.event_type == EventType::Like).count();
        let gifts = a.iter().filter(|e| e.event_type == EventType::Gift).count();
        assert!((5_700..6_300).contains(&likes), "{likes}");
        assert!((300..500).contains(&gifts), "{gifts}");
        assert_eq!(a[0].msg_id, Some(100));
    }
}
