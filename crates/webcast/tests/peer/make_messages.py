#!/usr/bin/env python3
"""Writes messages.jsonl: the messages tiklive decodes since issue 16, encoded with a peer's
schema (PyPI TikTokLiveProto 0.3.0, the v3 schema TikTokLive 7.x uses), and what our mapping
must make of each.

Run it from the workspace root (the output is committed, so tests need no Python):

    python3 -m venv target/peer-schema/venv
    target/peer-schema/venv/bin/pip install TikTokLiveProto==0.3.0
    target/peer-schema/venv/bin/python crates/webcast/tests/peer/make_messages.py

Each line: {"method", "payload_b64" (the inner message bytes, like tests/captures), "msg_id",
"expect": {"event_type", "data": {key: value, ...}}} where "event_type" is null when the message
maps to no event, and "data" lists keys whose values must match exactly.
"""

import base64
import importlib
import json
import pathlib
import pkgutil

import TikTokLiveProto.v3 as v3

# The package resolves pydantic forward references lazily, inside parse(), where a local named
# `data` shadows a module of that name: instantiating every class once first avoids it
# (reference §6.2).
CLASSES = {}
for info in pkgutil.walk_packages(v3.__path__, v3.__name__ + "."):
    module = importlib.import_module(info.name)
    for name in dir(module):
        cls = getattr(module, name)
        if isinstance(cls, type) and hasattr(cls, "__dataclass_fields__") and cls.__module__ == module.__name__:
            CLASSES.setdefault(name, cls)
            try:
                cls()
            except Exception:  # enums and abstract helpers
                pass

Text = getattr(importlib.import_module("TikTokLiveProto.v3.webcast.model.message.common"), "Text")
C = CLASSES

ROOM = 7400000000000000001
NOW_MS = 1767225600123


def user(n, handle):
    return C["User"](
        id=1000000000000000000 + n,
        nickname=f"Viewer {n} 🌹",
        display_id=handle,
        id_str=str(1000000000000000000 + n),
        avatar_thumb=C["ImageModel"](url_list=[f"https://example.invalid/avatar/{handle}.webp"]),
    )


def common(method, msg_id, key=None, pieces=None):
    display = Text(key=key, default_pattern="{0:user}", pieces=pieces or []) if key else None
    return C["CommonMessageData"](method=method, msg_id=msg_id, room_id=ROOM, create_time=NOW_MS, display_text=display)


def user_piece(u):
    return C["TextPiece"](type=11, user_value=C["TextPieceUser"](user=u, with_colon=False))


LINES = []


def add(message, msg_id, event_type, data):
    LINES.append({
        "method": type(message).__name__,
        "payload_b64": base64.b64encode(bytes(message)).decode(),
        "msg_id": msg_id,
        "expect": {"event_type": event_type, "data": data},
    })


# --- comments deleted by a moderator --------------------------------------------------------
add(C["WebcastImDeleteMessage"](
    common=common("WebcastImDeleteMessage", 7400000000000000010),
    delete_msg_ids=[7400000000000000101, 7400000000000000102],
    delete_user_ids=[1000000000000000007],
), 7400000000000000010, "CommentDeletedEvent", {
    "deleted_msg_ids": [7400000000000000101, 7400000000000000102],
    "deleted_user_ids": ["1000000000000000007"],
})

# --- a treasure box appears, and goes away -------------------------------------------------
sender = user(20, "box_sender")
add(C["WebcastEnvelopeMessage"](
    common=common("WebcastEnvelopeMessage", 7400000000000000020, "pm_mt_treasure_box_sender_comment", [user_piece(sender)]),
    envelope_info=C["MessageRedEnvelopInfo"](
        envelope_id="7400000000000000777", business_type=1, envelope_idc="useast2a",
        send_user_name="box_sender", diamond_count=100, people_count=25, unpack_at=1767225660,
        send_user_id=str(sender.id),
    ),
    display=1,
), 7400000000000000020, "EnvelopeEvent", {
    "envelope_id": "7400000000000000777", "diamonds": 100, "people": 25,
    "is_super_fan_box": False, "unpack_at": 1767225660,
    "user": {"id": str(sender.id), "unique_id": "box_sender", "nickname": "Viewer 20 🌹"},
})
add(C["WebcastEnvelopeMessage"](
    common=common("WebcastEnvelopeMessage", 7400000000000000021),
    envelope_info=C["MessageRedEnvelopInfo"](envelope_id="7400000000000000777", business_type=1),
    display=2,
), 7400000000000000021, None, {})
# A super-fan box (business type 19).
add(C["WebcastEnvelopeMessage"](
    common=common("WebcastEnvelopeMessage", 7400000000000000022),
    envelope_info=C["MessageRedEnvelopInfo"](
        envelope_id="7400000000000000778", business_type=19, send_user_name="fan_box",
        diamond_count=30, people_count=10, send_user_id="1000000000000000022",
    ),
    display=1,
), 7400000000000000022, "EnvelopeEvent", {
    "envelope_id": "7400000000000000778", "diamonds": 30, "people": 10, "is_super_fan_box": True,
    "user": {"id": "1000000000000000022", "unique_id": "fan_box"},
})

# --- a poll: start, votes, end --------------------------------------------------------------
host = user(1, "the_host")


def options(votes):
    return [C["PollOptionInfo"](votes=v, display_content=t, option_idx=i) for i, (t, v) in enumerate(votes)]


basic = C["PollBasicInfo"](title="Pizza or pasta? 🍕", poll_id_str="7400000000000000333", poll_duration=60)
add(C["WebcastPollMessage"](
    common=common("WebcastPollMessage", 7400000000000000030), message_type=0, poll_id=7400000000000000333,
    start_content=C["PollStartContent"](start_time=1767225600, end_time=1767225660,
                                        option_list=options([("Pizza", 0), ("Pasta", 0)]),
                                        title="Pizza or pasta? 🍕", operator=host),
    poll_kind=0, poll_basic_info=basic,
), 7400000000000000030, "PollEvent", {
    "poll_id": "7400000000000000333", "kind": "start", "title": "Pizza or pasta? 🍕",
    "options": [{"text": "Pizza", "votes": 0}, {"text": "Pasta", "votes": 0}], "ends_at": 1767225660,
})
add(C["WebcastPollMessage"](
    common=common("WebcastPollMessage", 7400000000000000031), message_type=1, poll_id=7400000000000000333,
    update_votes_content=C["PollUpdateVotesContent"](option_list=options([("Pizza", 12), ("Pasta", 7)]), operator=host),
    poll_basic_info=basic,
), 7400000000000000031, "PollEvent", {
    "poll_id": "7400000000000000333", "kind": "update", "title": "Pizza or pasta? 🍕",
    "options": [{"text": "Pizza", "votes": 12}, {"text": "Pasta", "votes": 7}],
})
add(C["WebcastPollMessage"](
    common=common("WebcastPollMessage", 7400000000000000032), message_type=2, poll_id=7400000000000000333,
    end_content=C["PollEndContent"](end_type=1, option_list=options([("Pizza", 30), ("Pasta", 9)]), operator=host),
    poll_basic_info=basic,
), 7400000000000000032, "PollEvent", {
    "poll_id": "7400000000000000333", "kind": "end", "title": "Pizza or pasta? 🍕",
    "options": [{"text": "Pizza", "votes": 30}, {"text": "Pasta", "votes": 9}], "end_type": 1,
})

# --- a question ---------------------------------------------------------------------------
asker = user(40, "curious")
add(C["WebcastQuestionNewMessage"](
    common=common("WebcastQuestionNewMessage", 7400000000000000040),
    data=C["Question"](question_id=7400000000000000444, content="Where is this? ¿dónde?", create_time=1767225600, user=asker),
), 7400000000000000040, "QuestionEvent", {
    "question_id": "7400000000000000444", "question": "Where is this? ¿dónde?",
    "user": {"id": str(asker.id), "unique_id": "curious"},
})

# --- a pinned comment, then unpinned ------------------------------------------------------
author = user(50, "pinned_author")
moderator = user(51, "a_moderator")
pinned = C["WebcastChatMessage"](common=common("WebcastChatMessage", 7400000000000000555), user=author,
                                  content="Welcome everyone! 👋", content_language="en")
add(C["WebcastRoomPinMessage"](
    common=common("WebcastRoomPinMessage", 7400000000000000050), chat_message=pinned,
    method="WebcastChatMessage", pin_time=NOW_MS, operator=moderator, action=1,
    display_duration=60, pin_msg_id=7400000000000000555,
), 7400000000000000050, "RoomPinEvent", {
    "action": "pin", "comment": "Welcome everyone! 👋", "pinned_msg_id": 7400000000000000555,
    "user": {"id": str(author.id), "unique_id": "pinned_author"},
    "operator": {"id": str(moderator.id), "unique_id": "a_moderator", "nickname": "Viewer 51 🌹"},
})
add(C["WebcastRoomPinMessage"](
    common=common("WebcastRoomPinMessage", 7400000000000000051), chat_message=pinned,
    method="WebcastChatMessage", operator=moderator, action=2, pin_msg_id=7400000000000000555,
), 7400000000000000051, "RoomPinEvent", {
    "action": "unpin", "comment": "Welcome everyone! 👋", "pinned_msg_id": 7400000000000000555,
})

# --- a battle: opened, scored, finished ---------------------------------------------------
rival = C["BattleBaseUserInfo"](user_id=2000000000000000002, nick_name="Rival ⚔️", display_id="the_rival", room_id=7400000000000000002)
me = C["BattleBaseUserInfo"](user_id=2000000000000000001, nick_name="Host", display_id="the_host", room_id=ROOM)
settings = C["BattleSetting"](battle_id=7400000000000000666, start_time_ms=NOW_MS, duration=300, status=1)
hosts = [C["BattleUserInfoWrapper"](key=h.user_id, value=C["BattleUserInfo"](user=h)) for h in (me, rival)]
hosts_json = [
    {"user_id": "2000000000000000001", "unique_id": "the_host", "nickname": "Host"},
    {"user_id": "2000000000000000002", "unique_id": "the_rival", "nickname": "Rival ⚔️"},
]
add(C["WebcastLinkMicBattle"](
    common=common("WebcastLinkMicBattle", 7400000000000000060), battle_id=7400000000000000666,
    battle_settings=settings, action=4, anchors_info=hosts,
), 7400000000000000060, "BattleEvent", {
    "battle_id": "7400000000000000666", "status": "start", "hosts": hosts_json,
})
# An invitation refused: no battle runs, no event.
add(C["WebcastLinkMicBattle"](
    common=common("WebcastLinkMicBattle", 7400000000000000061), battle_id=7400000000000000667, action=2,
), 7400000000000000061, None, {})
armies = {
    me.user_id: C["BattleUserArmies"](user_armies=[C["BattleUserArmy"](user_id=1000000000000000061, score=120, nickname="Top fan")],
                                      hostscore=150, anchor_id_str=str(me.user_id)),
    rival.user_id: C["BattleUserArmies"](hostscore=90, anchor_id_str=str(rival.user_id)),
}
add(C["WebcastLinkMicArmies"](
    common=common("WebcastLinkMicArmies", 7400000000000000062), battle_id=7400000000000000666,
    armies=armies, trigger_reason=1, from_user_id=1000000000000000061, gift_id=5655, gift_count=1,
    battle_settings=settings,
), 7400000000000000062, "BattleScoreEvent", {
    "battle_id": "7400000000000000666",
    "scores": [
        {"user_id": "2000000000000000001", "points": 150,
         "top_viewers": [{"user_id": "1000000000000000061", "nickname": "Top fan", "points": 120}]},
        {"user_id": "2000000000000000002", "points": 90, "top_viewers": []},
    ],
    "reason": "score_update", "from_user_id": "1000000000000000061", "gift_id": 5655,
})
finished = C["BattleSetting"](battle_id=7400000000000000666, start_time_ms=NOW_MS, duration=300, status=2)
add(C["WebcastLinkMicBattle"](
    common=common("WebcastLinkMicBattle", 7400000000000000063), battle_id=7400000000000000666,
    battle_settings=finished, action=5, anchors_info=hosts,
    battle_result={
        me.user_id: C["BattleResult"](user_id=me.user_id, result=0, score=150),
        rival.user_id: C["BattleResult"](user_id=rival.user_id, result=1, score=90),
    },
), 7400000000000000063, "BattleEvent", {
    "battle_id": "7400000000000000666", "status": "end", "hosts": hosts_json,
    "results": [
        {"user_id": "2000000000000000001", "result": "win", "points": 150},
        {"user_id": "2000000000000000002", "result": "lose", "points": 90},
    ],
})

# --- a goal moves ---------------------------------------------------------------------------
sub_goal = C["LiveStreamSubGoal"](type=1, id=7400000000000000889, progress=42, target=100,
                                  gift=C["LiveStreamSubGoalGift"](name="Rose", diamond_count=1, type=1),
                                  id_str="7400000000000000889")
add(C["WebcastGoalUpdateMessage"](
    common=common("WebcastGoalUpdateMessage", 7400000000000000070),
    goal=C["LiveStreamGoal"](id=7400000000000000888, type=1, status=1, sub_goals=[sub_goal],
                             description="100 roses for a dance 💃", id_str="7400000000000000888"),
    contributor_id=1000000000000000071, contributor_display_id="generous", contribute_subgoal=sub_goal,
    contribute_count=1, contribute_score=1, gift_repeat_count=1, contributor_id_str="1000000000000000071",
    update_source=2,
), 7400000000000000070, "GoalEvent", {
    "goal_id": "7400000000000000888", "description": "100 roses for a dance 💃", "progress": 42, "target": 100,
    "contributor": {"id": "1000000000000000071", "unique_id": "generous"},
})

# --- a super fan named only in the barrage's field 50 ---------------------------------------
fan = user(80, "super_fan")
add(C["WebcastBarrageMessage"](
    common=common("WebcastBarrageMessage", 7400000000000000080),
    msg_type=4, content=Text(key="ttlive_superfan_became_superfan", default_pattern="{0:user} became a super fan"),
    user=fan,
), 7400000000000000080, "SubscribeEvent", {
    "source": "barrage", "kind": "became_super_fan",
    "user": {"id": str(fan.id), "unique_id": "super_fan"},
})

# --- a sticker-only comment -------------------------------------------------------------------
add(C["WebcastEmoteChatMessage"](
    common=common("WebcastEmoteChatMessage", 7400000000000000090), user=user(90, "sticker_fan"),
    emote_list=[C["EmoteModel"](emote_id="7281238501054696197",
                                image=C["ImageModel"](url_list=["https://example.invalid/emote/7281238501054696197.webp"]))],
), 7400000000000000090, "CommentEvent", {
    "comment": "", "is_emote_only": True, "emote_id": "7281238501054696197",
    "emote_image_url": "https://example.invalid/emote/7281238501054696197.webp",
})

out = pathlib.Path(__file__).with_name("messages.jsonl")
out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in LINES), encoding="utf-8")
print(f"wrote {len(LINES)} messages to {out}")
