//! Builders of realistic webcast messages (used by the simulator and by tests).

use webcast::decode::WebcastMessage;
use webcast::proto::{
    BadgeStruct, BarrageUserGradeParam, BattleArmiesEntry, BattleBaseUserInfo, BattleHostEntry,
    BattleResult, BattleResultEntry, BattleSetting, BattleUserArmies, BattleUserArmy,
    BattleUserInfo, CommonMessageData, Contributor, EnvelopeInfo, FollowInfo, Gift, ImageModel,
    LiveStreamGoal, LiveStreamSubGoal, LiveStreamSubGoalGift, PollBasicInfo, PollEndContent,
    PollOptionInfo, PollStartContent, PollUpdateVotesContent, PrivilegeLogExtra, Question, Text,
    TextPiece, TextPieceUser, User, UserIdentity, WebcastBarrageMessage, WebcastChatMessage,
    WebcastControlMessage, WebcastEnvelopeMessage, WebcastGiftMessage, WebcastGoalUpdateMessage,
    WebcastImDeleteMessage, WebcastLikeMessage, WebcastLinkMicArmies, WebcastLinkMicBattle,
    WebcastMemberMessage, WebcastPollMessage, WebcastQuestionNewMessage, WebcastRoomPinMessage,
    WebcastRoomUserSeqMessage, WebcastSocialMessage, WebcastSubNotifyMessage,
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

/// A "became a super fan" barrage, naming its user in field 50 as TikTok does today (and in
/// the grade param, as older barrages did).
pub fn super_fan(meta: Meta, handle: &str) -> WebcastMessage {
    WebcastMessage::Barrage(WebcastBarrageMessage {
        common: meta.common("WebcastBarrageMessage", ""),
        msg_type: 4,
        content: Some(Text {
            key: "ttlive_superfan_became_superfan".into(),
            ..Default::default()
        }),
        user: Some(user(handle)),
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

/// A display text whose first placeholder is `handle`'s user, as TikTok's notices are.
fn text_with_user(key: &str, pattern: &str, handle: &str) -> Text {
    Text {
        key: key.to_owned(),
        default_pattern: pattern.to_owned(),
        pieces: vec![TextPiece {
            r#type: 11,
            user_value: Some(TextPieceUser {
                user: Some(user(handle)),
                with_colon: false,
            }),
            ..Default::default()
        }],
    }
}

/// A moderator deleted these comments (msg_ids) and every comment of these users.
pub fn comments_deleted(meta: Meta, msg_ids: &[i64], user_handles: &[&str]) -> WebcastMessage {
    WebcastMessage::ImDelete(WebcastImDeleteMessage {
        common: meta.common("WebcastImDeleteMessage", ""),
        delete_msg_ids: msg_ids.to_vec(),
        delete_user_ids: user_handles.iter().map(|h| user(h).id).collect(),
    })
}

/// A treasure box sent by `handle` (display "new"), as the 2023 captures show one.
pub fn envelope(
    meta: Meta,
    envelope_id: i64,
    handle: &str,
    diamonds: i32,
    people: i32,
) -> WebcastMessage {
    let sender = user(handle);
    let mut common = common(
        "WebcastEnvelopeMessage",
        meta.msg_id,
        meta.room_id,
        meta.now_ms,
        "",
    );
    common.display_text = Some(text_with_user(
        "pm_mt_treasure_box_sender_comment",
        "{0:user} sent a Treasure Box with {1:image} x {2:string}",
        handle,
    ));
    WebcastMessage::Envelope(WebcastEnvelopeMessage {
        common: Some(common),
        envelope_info: Some(EnvelopeInfo {
            envelope_id: envelope_id.to_string(),
            business_type: 1,
            send_user_name: handle.to_owned(),
            diamond_count: diamonds,
            people_count: people,
            unpack_at: meta.now_ms / 1000 + 60,
            send_user_id: sender.id.to_string(),
            ..Default::default()
        }),
        display: 1,
    })
}

/// Where a poll stands, for [`poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStage {
    /// It starts: the options with no votes.
    Start,
    /// Votes came in.
    Update,
    /// It ended: the final votes.
    End,
}

/// A poll message of `stage` with `options` as (text, votes).
pub fn poll(
    meta: Meta,
    poll_id: i64,
    stage: PollStage,
    title: &str,
    options: &[(&str, i64)],
) -> WebcastMessage {
    let option_list: Vec<PollOptionInfo> = options
        .iter()
        .enumerate()
        .map(|(i, (text, votes))| PollOptionInfo {
            votes: *votes,
            display_content: (*text).to_owned(),
            option_idx: i as i32,
        })
        .collect();
    let host = Some(user("sim_streamer"));
    let mut message = WebcastPollMessage {
        common: meta.common("WebcastPollMessage", ""),
        poll_id,
        poll_basic_info: Some(PollBasicInfo {
            title: title.to_owned(),
            poll_id_str: poll_id.to_string(),
            poll_duration: 60,
            ..Default::default()
        }),
        ..Default::default()
    };
    match stage {
        PollStage::Start => {
            message.start_content = Some(PollStartContent {
                start_time: meta.now_ms / 1000,
                end_time: meta.now_ms / 1000 + 60,
                option_list,
                title: title.to_owned(),
                operator: host,
            });
        }
        PollStage::Update => {
            message.update_votes_content = Some(PollUpdateVotesContent {
                option_list,
                operator: host,
            });
        }
        PollStage::End => {
            message.end_content = Some(PollEndContent {
                end_type: 0,
                option_list,
                operator: host,
            });
        }
    }
    WebcastMessage::Poll(message)
}

/// A viewer's question.
pub fn question(meta: Meta, question_id: i64, handle: &str, text: &str) -> WebcastMessage {
    WebcastMessage::QuestionNew(WebcastQuestionNewMessage {
        common: meta.common("WebcastQuestionNewMessage", ""),
        data: Some(Question {
            question_id,
            content: text.to_owned(),
            create_time: meta.now_ms / 1000,
            user: Some(user(handle)),
            ..Default::default()
        }),
    })
}

/// `author`'s comment `text` (its msg_id `pinned_msg_id`) pinned, or unpinned, by a moderator.
pub fn room_pin(
    meta: Meta,
    pinned_msg_id: i64,
    author: &str,
    text: &str,
    unpin: bool,
) -> WebcastMessage {
    let chat = match comment(
        Meta {
            msg_id: pinned_msg_id,
            ..meta
        },
        author,
        text,
    ) {
        WebcastMessage::Chat(chat) => Some(chat),
        _ => None,
    };
    WebcastMessage::RoomPin(WebcastRoomPinMessage {
        common: meta.common("WebcastRoomPinMessage", ""),
        chat_message: chat,
        method: "WebcastChatMessage".into(),
        pin_time: meta.now_ms,
        operator: Some(user("mod_mallory")),
        action: if unpin { 2 } else { 1 },
        display_duration: 60,
        pin_msg_id: pinned_msg_id,
    })
}

/// A battle between `hosts` opening (`end` false: action 4) or finishing (action 5, with the
/// first host winning on `points`).
pub fn battle(
    meta: Meta,
    battle_id: i64,
    hosts: &[&str],
    end: bool,
    points: &[i64],
) -> WebcastMessage {
    let host_entry = |handle: &str| {
        let u = user(handle);
        BattleHostEntry {
            key: u.id,
            value: Some(BattleUserInfo {
                user: Some(BattleBaseUserInfo {
                    user_id: u.id,
                    nick_name: u.nickname,
                    display_id: u.display_id,
                    ..Default::default()
                }),
            }),
        }
    };
    let battle_result = if end {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| BattleResultEntry {
                key: user(h).id,
                value: Some(BattleResult {
                    user_id: user(h).id,
                    result: if i == 0 { 0 } else { 1 },
                    score: points.get(i).copied().unwrap_or_default(),
                }),
            })
            .collect()
    } else {
        Vec::new()
    };
    WebcastMessage::LinkMicBattle(WebcastLinkMicBattle {
        common: meta.common("WebcastLinkMicBattle", ""),
        battle_id,
        battle_settings: Some(BattleSetting {
            battle_id,
            start_time_ms: meta.now_ms,
            duration: 300,
            status: if end { 2 } else { 1 },
            ..Default::default()
        }),
        action: if end { 5 } else { 4 },
        battle_result,
        anchors_info: hosts.iter().map(|h| host_entry(h)).collect(),
        ..Default::default()
    })
}

/// The points of a running battle: each (host, points), with `top` as the first host's best
/// viewer.
pub fn battle_score(
    meta: Meta,
    battle_id: i64,
    scores: &[(&str, i64)],
    top: &str,
) -> WebcastMessage {
    let armies = scores
        .iter()
        .enumerate()
        .map(|(i, (host, points))| BattleArmiesEntry {
            key: user(host).id,
            value: Some(BattleUserArmies {
                user_armies: (i == 0)
                    .then(|| BattleUserArmy {
                        user_id: user(top).id,
                        score: *points,
                        nickname: top.to_owned(),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                host_score: *points,
                anchor_id_str: user(host).id.to_string(),
            }),
        })
        .collect();
    WebcastMessage::LinkMicArmies(WebcastLinkMicArmies {
        common: meta.common("WebcastLinkMicArmies", ""),
        battle_id,
        armies,
        trigger_reason: 1,
        from_user_id: user(top).id,
        gift_id: gift_by_name("Rose").id,
        gift_count: 1,
        ..Default::default()
    })
}

/// A goal of one sub-goal (`target` Roses) reaching `progress`, thanks to `contributor`.
pub fn goal(
    meta: Meta,
    goal_id: i64,
    description: &str,
    progress: i64,
    target: i64,
    contributor: &str,
) -> WebcastMessage {
    let rose = gift_by_name("Rose");
    let sub_goal = LiveStreamSubGoal {
        r#type: 1,
        id: goal_id + 1,
        progress,
        target,
        gift: Some(LiveStreamSubGoalGift {
            name: rose.name.to_owned(),
            diamond_count: i64::from(rose.diamonds),
            ..Default::default()
        }),
        id_str: (goal_id + 1).to_string(),
    };
    let who = user(contributor);
    WebcastMessage::GoalUpdate(WebcastGoalUpdateMessage {
        common: meta.common("WebcastGoalUpdateMessage", ""),
        goal: Some(LiveStreamGoal {
            id: goal_id,
            sub_goals: vec![sub_goal.clone()],
            description: description.to_owned(),
            id_str: goal_id.to_string(),
            ..Default::default()
        }),
        contributor_id: who.id,
        contributor_display_id: who.display_id,
        contribute_subgoal: Some(sub_goal),
        contribute_count: 1,
        update_source: 2,
        ..Default::default()
    })
}
