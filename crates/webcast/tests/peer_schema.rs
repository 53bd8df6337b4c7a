//! The messages decoded since issue 16, encoded with a peer's schema (PyPI `TikTokLiveProto`
//! 0.3.0, the v3 schema of TikTokLive 7.x; see `tests/peer/make_messages.py`), decode with our
//! own `.proto` files and map to the event_data contract: each line of `tests/peer/messages.jsonl`
//! says which event (or none) and which keys must come out.

use std::path::PathBuf;
use std::time::Instant;

use base64::Engine;
use serde_json::Value;
use webcast::decode::{decode_messages, WebcastMessage};
use webcast::frame;
use webcast::mapping::Mapper;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

fn lines() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer/messages.jsonl");
    std::fs::read_to_string(path)
        .expect("tests/peer/messages.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn payload(line: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(line["payload_b64"].as_str().expect("payload_b64"))
        .expect("base64")
}

/// Whether `actual` holds everything `expected` says: objects key by key (extra keys allowed),
/// arrays element by element (same length), anything else equal.
fn holds(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|got| holds(got, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(got, want)| holds(got, want))
        }
        _ => actual == expected,
    }
}

#[test]
fn peer_encoded_messages_map_to_the_event_data_contract() {
    let lines = lines();
    assert!(lines.len() >= 17, "{} lines", lines.len());
    // One mapper for the whole file, as for a stream: a battle opens, scores, then ends.
    let mut mapper = Mapper::default();
    let mut covered = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let method = line["method"].as_str().expect("method");
        let message = WebcastMessage::decode(method, &payload(line))
            .unwrap_or_else(|e| panic!("line {i}: {e}"));
        let msg_id = line["msg_id"].as_i64().expect("msg_id");
        assert_eq!(message.common().map(|c| c.msg_id), Some(msg_id), "line {i}");
        let decoded = webcast::decode::DecodedMessage {
            msg_id,
            is_history: false,
            message,
        };
        let events = mapper.map(&decoded, Instant::now());
        let expect = &line["expect"];
        let Some(event_type) = expect["event_type"].as_str() else {
            assert!(
                events.is_empty(),
                "line {i} ({method}) maps to nothing: {events:?}"
            );
            continue;
        };
        assert_eq!(events.len(), 1, "line {i} ({method})");
        let event = &events[0];
        assert_eq!(event.event_type.as_str(), event_type, "line {i}");
        assert_eq!(event.msg_id, Some(msg_id), "line {i}");
        assert!(
            holds(&event.data, &expect["data"]),
            "line {i} ({method}):\n got {}\nwant {}",
            event.data,
            expect["data"]
        );
        if let Some(id) = expect["data"]["user"]["id"].as_str() {
            assert_eq!(event.user_id.as_deref(), Some(id), "line {i}: user columns");
        }
        covered.push(event.event_type);
    }
    for t in [
        "CommentDeletedEvent",
        "EnvelopeEvent",
        "PollEvent",
        "QuestionEvent",
        "RoomPinEvent",
        "BattleEvent",
        "BattleScoreEvent",
        "GoalEvent",
    ] {
        assert!(covered.iter().any(|c| c.as_str() == t), "no {t} covered");
    }
}

#[test]
fn peer_encoded_messages_survive_framing_and_batch_decoding() {
    let result = ProtoMessageFetchResult {
        messages: lines()
            .iter()
            .map(|line| BaseProtoMessage {
                method: line["method"].as_str().expect("method").to_owned(),
                payload: payload(line),
                msg_id: line["msg_id"].as_i64().expect("msg_id"),
                ..Default::default()
            })
            .collect(),
        internal_ext: "ie".into(),
        need_ack: true,
        ..Default::default()
    };
    let bytes = frame::msg_frame(5, &result, true);
    let push = frame::decode_push_frame(&bytes).expect("push frame");
    let batch = decode_messages(&frame::decode_fetch_result(&push).expect("fetch result"));
    assert_eq!(batch.stats.decoded, result.messages.len());
    assert_eq!(batch.stats.unknown + batch.stats.undecodable, 0);
}
