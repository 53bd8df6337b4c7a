//! Fuzz-style property tests: frame decoding and mapping never panic, whatever the bytes —
//! arbitrary bytes, and valid frames (built from the real captures) with bytes flipped, cut
//! or inserted.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use proptest::prelude::*;
use webcast::decode::{decode_messages, WebcastMessage};
use webcast::frame;
use webcast::mapping::Mapper;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

/// Runs everything the client runs on a received frame, plus direct decodes.
fn pipeline(bytes: &[u8]) -> usize {
    let mut mapper = Mapper::default();
    let now = Instant::now();
    let mut events = 0;
    if let Ok(push) = frame::decode_push_frame(bytes) {
        let _ = frame::is_gzipped(&push);
        if let Ok(result) = frame::decode_fetch_result(&push) {
            let batch = decode_messages(&result);
            events += mapper.map_batch(&batch, now).len();
        }
    }
    if let Ok(result) = frame::decode_fetch_body(bytes) {
        events += mapper.map_batch(&decode_messages(&result), now).len();
    }
    events += mapper.expire_streaks(now + Duration::from_secs(3600)).len();
    events
}

/// Decodes `bytes` as every known message and maps what decodes.
fn messages_pipeline(bytes: &[u8]) {
    let mut mapper = Mapper::default();
    for method in WebcastMessage::METHODS {
        if let Ok(message) = WebcastMessage::decode(method, bytes) {
            let decoded = webcast::decode::DecodedMessage {
                msg_id: 1,
                is_history: false,
                message,
            };
            let _ = mapper.map(&decoded, Instant::now());
        }
    }
    let _ = mapper.finish_streaks(Instant::now());
}

fn capture_payloads() -> &'static Vec<(String, Vec<u8>)> {
    static PAYLOADS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    PAYLOADS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
        let mut out = Vec::new();
        for file in [
            "WebcastChatMessage.jsonl",
            "WebcastGiftMessage.jsonl",
            "WebcastSocialMessage.jsonl",
            "WebcastBarrageMessage.jsonl",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("fixture");
            for line in text.lines().take(6) {
                let v: serde_json::Value = serde_json::from_str(line).expect("json");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v["payload_b64"].as_str().expect("b64"))
                    .expect("base64");
                out.push((v["method"].as_str().expect("method").to_owned(), bytes));
            }
        }
        out
    })
}

/// Valid frames: each capture alone, plain and gzipped, plus one frame with all of them.
fn valid_frames() -> &'static Vec<Vec<u8>> {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let base = |(method, payload): &(String, Vec<u8>)| BaseProtoMessage {
            method: method.clone(),
            payload: payload.clone(),
            msg_id: 1,
            ..Default::default()
        };
        let result = |messages| ProtoMessageFetchResult {
            messages,
            internal_ext: "ie".into(),
            need_ack: true,
            ..Default::default()
        };
        let mut frames = Vec::new();
        for p in capture_payloads().iter().step_by(3) {
            frames.push(frame::msg_frame(1, &result(vec![base(p)]), false));
            frames.push(frame::msg_frame(1, &result(vec![base(p)]), true));
        }
        let all = result(capture_payloads().iter().map(base).collect());
        frames.push(frame::msg_frame(2, &all, false));
        frames
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Flip { at, xor } => {
                let i = at % bytes.len();
                bytes[i] ^= xor;
            }
            Mutation::Truncate { at } => bytes.truncate(at % bytes.len()),
            Mutation::Insert { at, bytes: extra } => {
                let i = at % bytes.len();
                bytes.splice(i..i, extra.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        pipeline(&bytes);
        messages_pipeline(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic(pick in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let frames = valid_frames();
        let bytes = apply(frames[pick % frames.len()].clone(), &mutations);
        pipeline(&bytes);
    }

    #[test]
    fn mutated_real_messages_never_panic(pick in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let payloads = capture_payloads();
        let bytes = apply(payloads[pick % payloads.len()].1.clone(), &mutations);
        messages_pipeline(&bytes);
    }
}

#[test]
fn unmutated_frames_produce_events() {
    let events: usize = valid_frames().iter().map(|f| pipeline(f)).sum();
    assert!(events > 20, "the corpus is meaningful: {events} events");
}
