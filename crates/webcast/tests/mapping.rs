//! Encode/decode round trips of every mapped message, and each mapping rule.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use events::{CapturedEvent, EventType, StreakStatus};
use webcast::decode::{decode_messages, DecodedMessage, WebcastMessage};
use webcast::mapping::{normalise_time, Mapper, MapperConfig};
use webcast::proto::{
    BadgeStruct, CommonMessageData, EmoteModel, FollowInfo, ImageModel, PrivilegeLogExtra,
    ProtoMessageFetchResult, Text, User, UserAttr, UserIdentity, WebcastBarrageMessage,
    WebcastControlMessage, WebcastEmoteChatMessage, WebcastMemberMessage, WebcastSocialMessage,
};
use webcast_sim::messages::{self, gift_by_name, Meta};

const ROOM: i64 = 7_300_000_000_000_000_000;

fn meta(msg_id: i64) -> Meta {
    Meta {
        msg_id,
        room_id: ROOM,
        now_ms: 1_700_000_000_123,
    }
}

fn all_messages() -> Vec<WebcastMessage> {
    let rose = gift_by_name("Rose");
    vec![
        messages::comment(meta(1), "alice", "hi 👋"),
        WebcastMessage::EmoteChat(WebcastEmoteChatMessage {
            common: Some(messages::common("WebcastEmoteChatMessage", 2, ROOM, 1, "")),
            user: Some(messages::user("bob")),
            emote_list: vec![EmoteModel {
                emote_id: "7281238501054696197".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        messages::gift(meta(3), "carol", &rose, 2, false, 77),
        messages::like(meta(4), "dave", 15, 1000),
        messages::join(meta(5), "erin", 12),
        messages::social(meta(6), "frank", 1, 500),
        messages::social(meta(7), "grace", 3, 9),
        messages::viewers(meta(8), 120, 1500, &["alice"]),
        messages::control(meta(9), 3),
        messages::subscribe(meta(10), "heidi", 2),
        messages::super_fan(meta(11), "ivan"),
        messages::envelope(meta(12), 555, "judy", 20, 16),
        messages::comments_deleted(meta(13), &[1, 2], &["alice"]),
        messages::poll(
            meta(14),
            77,
            messages::PollStage::Start,
            "Pizza?",
            &[("yes", 0), ("no", 0)],
        ),
        messages::question(meta(15), 88, "niaj", "where are you?"),
        messages::room_pin(meta(16), 1, "alice", "hi 👋", false),
        messages::battle(meta(17), 99, &["sim_streamer", "rival"], false, &[]),
        messages::battle_score(meta(18), 99, &[("sim_streamer", 5), ("rival", 3)], "bob"),
        messages::goal(meta(19), 66, "100 roses", 10, 100, "carol"),
    ]
}

#[test]
fn every_message_round_trips_through_a_frame() {
    let messages = all_messages();
    let result = ProtoMessageFetchResult {
        messages: messages
            .iter()
            .enumerate()
            .map(|(i, m)| m.to_base(i as i64 + 1))
            .collect(),
        ..Default::default()
    };
    let bytes = webcast::frame::msg_frame(1, &result, true);
    let frame = webcast::frame::decode_push_frame(&bytes).expect("frame");
    let batch = decode_messages(&webcast::frame::decode_fetch_result(&frame).expect("result"));
    assert_eq!(batch.stats.decoded, messages.len());
    for (decoded, original) in batch.messages.iter().zip(&messages) {
        assert_eq!(&decoded.message, original);
        assert_eq!(
            WebcastMessage::decode(original.method(), &original.encode_payload()).expect("decode"),
            *original
        );
    }
    let mut covered: Vec<&str> = messages.iter().map(|m| m.method()).collect();
    covered.sort_unstable();
    covered.dedup();
    let mut known = WebcastMessage::METHODS.to_vec();
    known.sort_unstable();
    assert_eq!(covered, known, "every decoded method is round-tripped");
}

fn map_one(message: WebcastMessage) -> Vec<CapturedEvent> {
    let msg_id = message.common().map_or(0, |c| c.msg_id);
    Mapper::default().map(
        &DecodedMessage {
            msg_id,
            is_history: false,
            message,
        },
        Instant::now(),
    )
}

fn common_with_key(msg_id: i64, key: &str) -> Option<CommonMessageData> {
    Some(messages::common("x", msg_id, ROOM, 1_700_000_000_000, key))
}

#[test]
fn every_mapped_type_has_its_event_and_user() {
    let types: Vec<Vec<EventType>> = all_messages()
        .into_iter()
        .map(|m| map_one(m).iter().map(|e| e.event_type).collect())
        .collect();
    use EventType::*;
    assert_eq!(
        types,
        vec![
            vec![Comment],
            vec![Comment],
            vec![Gift],
            vec![Like],
            vec![Join],
            vec![Follow],
            vec![Share],
            vec![ViewerCount],
            vec![LiveEnd],
            vec![Subscribe],
            vec![Subscribe],
            vec![Envelope],
            vec![CommentDeleted],
            vec![Poll],
            vec![Question],
            vec![RoomPin],
            vec![Battle],
            vec![BattleScore],
            vec![Goal],
        ]
    );
    for message in all_messages() {
        for event in map_one(message) {
            let has_user = !matches!(
                event.event_type,
                ViewerCount | LiveEnd | CommentDeleted | Poll | Battle | BattleScore | Goal
            );
            assert_eq!(
                event.data["user"].is_object(),
                has_user,
                "{:?}",
                event.event_type
            );
            assert_eq!(event.user_id.is_some(), has_user);
            assert!(event.msg_id.is_some(), "msg_id kept");
        }
    }
}

#[test]
fn event_data_keeps_the_original_keys() {
    let comment = &map_one(messages::comment(meta(1), "mod_alice", "hello"))[0];
    assert_eq!(comment.data["comment"], "hello");
    for key in [
        "is_moderator",
        "member_level",
        "gifter_level",
        "badges",
        "unique_id",
        "nickname",
        "avatar_url",
        "follow_role",
    ] {
        assert!(comment.data["user"].get(key).is_some(), "user.{key}");
    }
    assert_eq!(comment.data["user"]["is_moderator"], true);
    let like = &map_one(messages::like(meta(2), "bob", 7, 700))[0];
    assert_eq!(
        (
            like.data["like_count"].as_i64(),
            like.data["total_likes"].as_i64()
        ),
        (Some(7), Some(700))
    );
    let viewers = &map_one(messages::viewers(meta(3), 12, 340, &[]))[0];
    assert_eq!(
        (
            viewers.data["viewer_count"].as_i64(),
            viewers.data["total_viewers"].as_i64()
        ),
        (Some(12), Some(340))
    );
    let gift = &map_one(messages::gift(
        meta(4),
        "carol",
        &gift_by_name("Galaxy"),
        1,
        false,
        0,
    ))[0];
    for key in [
        "repeat_count",
        "streak_total_count",
        "is_streaking",
        "value_usd",
    ] {
        assert!(gift.data.get(key).is_some(), "{key}");
    }
    assert_eq!(gift.data["gift"]["id"], 11046);
    assert_eq!(gift.data["gift"]["name"], "Galaxy");
    assert_eq!(gift.data["gift"]["diamond_count"], 1000);
    assert_eq!(gift.data["gift"]["streakable"], false);
    assert_eq!(gift.data["from_user"]["unique_id"], "carol");
    assert!(gift.data["to_user"].is_null());
    assert!((gift.data["value_usd"].as_f64().unwrap_or(0.0) - 5.0).abs() < 1e-9);
}

#[test]
fn gift_to_another_guest_names_the_recipient() {
    let mut message = messages::gift(meta(1), "carol", &gift_by_name("Rose"), 1, true, 5);
    if let WebcastMessage::Gift(g) = &mut message {
        g.to_user = Some(messages::user("guest_bob"));
    }
    let event = &map_one(message)[0];
    assert_eq!(event.data["to_user"]["unique_id"], "guest_bob");
}

#[test]
fn social_uses_action_first_then_the_display_key() {
    let social = |action: i64, key: &str| {
        WebcastMessage::Social(WebcastSocialMessage {
            common: common_with_key(1, key),
            user: Some(messages::user("u")),
            action,
            ..Default::default()
        })
    };
    let kind = |m| map_one(m).first().map(|e| e.event_type);
    assert_eq!(
        kind(social(1, "pm_mt_guidance_share")),
        Some(EventType::Follow),
        "action wins"
    );
    assert_eq!(
        kind(social(3, "pm_main_follow_message_viewer_2")),
        Some(EventType::Share),
        "action wins"
    );
    assert_eq!(
        kind(social(0, "pm_main_follow_message_viewer_2")),
        Some(EventType::Follow)
    );
    assert_eq!(
        kind(social(0, "pm_mt_guidance_share")),
        Some(EventType::Share)
    );
    assert_eq!(kind(social(0, "")), None);
    let share = &map_one(social(0, "pm_mt_guidance_viewer_10_share"))[0];
    assert_eq!(share.data["users_joined"], 10);
}

#[test]
fn member_and_control_actions() {
    let member = |action| {
        WebcastMessage::Member(WebcastMemberMessage {
            common: common_with_key(1, "live_room_enter_toast"),
            user: Some(messages::user("u")),
            action,
            ..Default::default()
        })
    };
    assert_eq!(map_one(member(1))[0].event_type, EventType::Join);
    assert!(
        map_one(member(3)).is_empty(),
        "3 is ban_talk in v3, not a subscribe"
    );
    let control = |action| {
        WebcastMessage::Control(WebcastControlMessage {
            common: common_with_key(1, ""),
            action,
            ..Default::default()
        })
    };
    assert!(map_one(control(1)).is_empty());
    assert!(map_one(control(2)).is_empty());
    assert_eq!(map_one(control(3))[0].data["reason"], "ended");
    assert_eq!(map_one(control(4))[0].data["reason"], "suspended");
}

#[test]
fn super_fan_barrage_keys() {
    let barrage = |content: &str, common: &str| {
        WebcastMessage::Barrage(WebcastBarrageMessage {
            common: common_with_key(1, ""),
            content: Some(Text {
                key: content.into(),
                ..Default::default()
            }),
            common_barrage_content: Some(Text {
                key: common.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let joined = map_one(barrage("ttlive_superfan_commentnotif_superfanjoined", ""));
    assert_eq!(joined[0].event_type, EventType::Subscribe);
    assert_eq!(joined[0].data["kind"], "super_fan_joined");
    let became = map_one(barrage(
        "pm_mt_alp_join_animation",
        "TTLIVE_SUPERFAN_Became",
    ));
    assert_eq!(became[0].data["kind"], "became_super_fan");
    assert!(map_one(barrage("pm_mt_fan_live_join", "")).is_empty());
}

#[test]
fn user_flags_from_badges_identity_and_attrs() {
    let badge = |scene: i32, level: &str| BadgeStruct {
        scene_type: scene,
        privilege_log_extra: Some(PrivilegeLogExtra {
            level: level.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let user = User {
        id: 5,
        display_id: "x".into(),
        badge_list: vec![badge(8, "25"), badge(10, "28"), badge(4, "")],
        follow_info: Some(FollowInfo {
            follow_status: 2,
            ..Default::default()
        }),
        user_attr: Some(UserAttr {
            is_admin: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let json = webcast::mapping::user_json(Some(&user), Some(&UserIdentity::default()));
    assert_eq!(json["gifter_level"], 25);
    assert_eq!(json["member_level"], 28);
    assert_eq!(json["is_subscriber"], true);
    assert_eq!(json["is_moderator"], true, "from UserAttr.is_admin");
    assert_eq!(json["follow_role"], 2);
    assert_eq!(json["id"], "5");
    assert!(webcast::mapping::user_json(None, None).is_null());
}

#[test]
fn create_time_in_seconds_or_milliseconds() {
    let fallback = Utc.timestamp_opt(0, 0).single().expect("epoch");
    let ms = normalise_time(1_696_447_177_084, fallback);
    assert_eq!(ms.timestamp_millis(), 1_696_447_177_084);
    let s = normalise_time(1_696_447_177, fallback);
    assert_eq!(s.timestamp_millis(), 1_696_447_177_000);
    assert_eq!(normalise_time(0, fallback), fallback);
    assert_eq!(normalise_time(-5, fallback), fallback);
}

#[test]
fn duplicates_by_msg_id_are_dropped_across_batches() {
    let mut mapper = Mapper::default();
    let message = DecodedMessage {
        msg_id: 99,
        is_history: true,
        message: messages::comment(meta(99), "a", "again"),
    };
    assert_eq!(mapper.map(&message, Instant::now()).len(), 1);
    assert!(mapper.map(&message, Instant::now()).is_empty());
    assert_eq!(mapper.stats().duplicates, 1);
}

#[test]
fn streak_scenarios_through_the_mapper() {
    let rose = gift_by_name("Rose");
    let mut mapper = Mapper::new(MapperConfig {
        streak_timeout: Duration::from_millis(100),
        ..Default::default()
    });
    let t0 = Instant::now();
    let mut id = 1000;
    let mut feed = |mapper: &mut Mapper, user: &str, count: i32, end: bool, group: i64| {
        id += 1;
        let message = messages::gift(meta(id), user, &rose, count, end, group);
        mapper.map(
            &DecodedMessage {
                msg_id: id,
                is_history: false,
                message,
            },
            t0,
        )
    };
    // Out of order 15, 14, 17, 16 then end 17: never inflated, one end.
    let mut events = Vec::new();
    for (c, e) in [
        (15, false),
        (14, false),
        (17, false),
        (16, false),
        (17, true),
        (17, false),
    ] {
        events.extend(feed(&mut mapper, "a", c, e, 1));
    }
    let summary: Vec<(StreakStatus, i64)> = events
        .iter()
        .map(|e| {
            (
                e.streak.as_ref().map(|s| s.status).expect("streak"),
                e.data["streak_total_count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (StreakStatus::Start, 15),
            (StreakStatus::Continue, 15),
            (StreakStatus::Continue, 17),
            (StreakStatus::Continue, 17),
            (StreakStatus::End, 17)
        ],
        "the message after the end is ignored"
    );
    assert!(events
        .iter()
        .all(|e| e.streak.as_ref().map(|s| s.id.as_str())
            == events[0].streak.as_ref().map(|s| s.id.as_str())));
    assert_eq!(events[4].data["finalised_by"], "repeat_end");
    assert_eq!(mapper.stats().ignored_streak_messages, 1);

    // Lost end: finalised by the timeout, once.
    feed(&mut mapper, "b", 1, false, 2);
    feed(&mut mapper, "b", 4, false, 2);
    assert!(mapper
        .expire_streaks(t0 + Duration::from_millis(50))
        .is_empty());
    let expired = mapper.expire_streaks(t0 + Duration::from_millis(100));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].data["streak_total_count"], 4);
    assert_eq!(expired[0].data["finalised_by"], "timeout");
    assert_eq!(expired[0].data["is_streaking"], false);
    assert!(
        expired[0].msg_id.is_none(),
        "a synthesised end has no msg_id"
    );
    assert!(
        feed(&mut mapper, "b", 4, true, 2).is_empty(),
        "a late end with the total already counted adds nothing"
    );
    // A late step with a higher count corrects the total: an end event for the difference.
    let corrected = feed(&mut mapper, "b", 6, true, 2);
    assert_eq!(corrected.len(), 1);
    let c = &corrected[0].data;
    assert_eq!(
        corrected[0].streak.as_ref().map(|s| s.status),
        Some(StreakStatus::End)
    );
    assert_eq!(c["finalised_by"], "late_step");
    assert_eq!(
        (c["streak_total_count"].as_i64(), c["added_count"].as_i64()),
        (Some(6), Some(2))
    );
    assert_eq!(expired[0].data["added_count"], 4);
    assert_eq!(mapper.stats().corrected_streaks, 1);

    // Finish on stream end.
    feed(&mut mapper, "c", 2, false, 3);
    let closing = mapper.finish_streaks(t0);
    assert_eq!(closing.len(), 1);
    assert_eq!(mapper.open_streaks(), 0);
}

#[test]
fn non_json_safe_text_survives_mapping() {
    let text =
        "RTL مرحبا, zero\u{200b}width, NUL\u{0}, emoji 🧑‍🚀, long ".to_owned() + &"x".repeat(10_000);
    let event = &map_one(messages::comment(meta(1), "a", &text))[0];
    assert_eq!(event.data["comment"].as_str(), Some(text.as_str()));
}

#[test]
fn avatar_url_is_the_largest_picture_given() {
    let comment = &map_one(messages::comment(meta(1), "mod_alice", "hello"))[0];
    assert_eq!(
        comment.data["user"]["avatar_url"], "https://example.invalid/avatar/mod_alice.webp",
        "the simulator's user has only a thumbnail"
    );
    let picture = |url: &str| {
        Some(ImageModel {
            url_list: vec![url.to_owned(), format!("{url}?fallback")],
            ..Default::default()
        })
    };
    let user = User {
        id: 9,
        display_id: "pictured".into(),
        avatar_thumb: picture("https://p16.example/thumb.webp"),
        avatar_medium: picture("https://p16.example/medium.webp"),
        avatar_large: picture("https://p16.example/large.webp"),
        ..Default::default()
    };
    let json = webcast::mapping::user_json(Some(&user), None);
    assert_eq!(json["avatar_url"], "https://p16.example/large.webp");
    let thumb_only = User {
        avatar_large: Some(ImageModel::default()),
        avatar_medium: None,
        ..user.clone()
    };
    assert_eq!(
        webcast::mapping::user_json(Some(&thumb_only), None)["avatar_url"],
        "https://p16.example/thumb.webp",
        "an empty url_list falls through to the next size"
    );
    let none = User {
        avatar_thumb: None,
        avatar_medium: None,
        avatar_large: None,
        ..user
    };
    assert!(webcast::mapping::user_json(Some(&none), None)["avatar_url"].is_null());
}

/// A length-delimited field `field` holding `bytes`.
fn len_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// What a decoder that declares BadgeStruct.display_type as the enum it once was would do.
#[derive(Clone, PartialEq, prost::Message)]
struct TypedBadge {
    #[prost(int32, tag = "1")]
    display_type: i32,
}

#[test]
fn badge_display_type_sent_as_a_string_does_not_break_decoding() {
    use prost::Message as _;
    let badge = BadgeStruct {
        scene_type: 8,
        privilege_log_extra: Some(PrivilegeLogExtra {
            level: "31".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Field 1 as a string (wire type 2) where older schemas have an enum (wire type 0).
    let mut hostile_badge = len_field(1, b"BADGE_DISPLAY_TYPE_COMBINE");
    hostile_badge.extend(badge.encode_to_vec());
    assert!(
        TypedBadge::decode(hostile_badge.as_slice()).is_err(),
        "the input really is the one that breaks a typed decoder"
    );

    let mut user = messages::user("badge_fan");
    user.badge_list.clear();
    let mut user_bytes = user.encode_to_vec();
    user_bytes.extend(len_field(64, &hostile_badge));
    let WebcastMessage::Chat(mut chat) = messages::comment(meta(77), "badge_fan", "still here 🎖️")
    else {
        panic!("comment builds a chat message");
    };
    chat.user = None;
    let mut chat_bytes = chat.encode_to_vec();
    chat_bytes.extend(len_field(2, &user_bytes));

    // Through a whole frame, as it would arrive.
    let result = ProtoMessageFetchResult {
        messages: vec![webcast::proto::BaseProtoMessage {
            method: "WebcastChatMessage".into(),
            payload: chat_bytes,
            msg_id: 77,
            ..Default::default()
        }],
        ..Default::default()
    };
    let bytes = webcast::frame::msg_frame(5, &result, true);
    let frame = webcast::frame::decode_push_frame(&bytes).expect("frame");
    let batch = decode_messages(&webcast::frame::decode_fetch_result(&frame).expect("result"));
    assert_eq!(
        (
            batch.stats.decoded,
            batch.stats.undecodable,
            batch.stats.unknown
        ),
        (1, 0, 0)
    );
    let events = Mapper::default().map_batch(&batch, Instant::now());
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.event_type, EventType::Comment);
    assert_eq!(event.data["comment"], "still here 🎖️");
    assert_eq!(event.data["user"]["unique_id"], "badge_fan");
    assert_eq!(
        event.data["user"]["gifter_level"], 31,
        "the rest of the badge is read"
    );
    assert_eq!(event.msg_id, Some(77));
}
