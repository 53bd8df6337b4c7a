//! Writes the seed corpus of the `frames` target into `fuzz/corpus/frames/`: a few push frames
//! built from the real captures and the peer-encoded messages (plain and gzipped), the signed
//! fetch body of one of them, and the bare payloads. Small on purpose: libFuzzer grows its own
//! corpus from these.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use webcast::frame;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

/// (file, lines taken) under `crates/webcast/tests`.
const SOURCES: &[(&str, usize)] = &[
    ("captures/WebcastChatMessage.jsonl", 2),
    ("captures/WebcastGiftMessage.jsonl", 3),
    ("captures/WebcastSocialMessage.jsonl", 1),
    ("captures/WebcastEnvelopeMessage.jsonl", 3),
    ("captures/WebcastBarrageMessage.jsonl", 1),
    ("captures/WebcastEmoteChatMessage.jsonl", 1),
    ("captures/WebcastControlMessage.jsonl", 1),
    ("peer/messages.jsonl", 17),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("../crates/webcast/tests");
    let out = root.join("corpus/frames");
    std::fs::create_dir_all(&out)?;
    let mut messages = Vec::new();
    for (file, take) in SOURCES {
        let text = std::fs::read_to_string(tests.join(file))?;
        for line in text.lines().take(*take) {
            let v: Value = serde_json::from_str(line)?;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(v["payload_b64"].as_str().unwrap_or_default())?;
            messages.push(BaseProtoMessage {
                method: v["method"].as_str().unwrap_or_default().to_owned(),
                payload,
                msg_id: messages.len() as i64 + 1,
                ..Default::default()
            });
        }
    }
    let result = |messages: Vec<BaseProtoMessage>| ProtoMessageFetchResult {
        messages,
        cursor: "c1".into(),
        internal_ext: "ie".into(),
        need_ack: true,
        push_server: "ws://127.0.0.1:1/ws".into(),
        ..Default::default()
    };
    let mut written = 0;
    let mut write = |name: String, bytes: Vec<u8>| -> std::io::Result<()> {
        written += 1;
        std::fs::write(out.join(name), bytes)
    };
    for (i, message) in messages.iter().enumerate() {
        let single = result(vec![message.clone()]);
        write(format!("frame-{i:02}"), frame::msg_frame(i as i64, &single, i % 2 == 0))?;
        write(format!("payload-{i:02}"), message.payload.clone())?;
    }
    let all = result(messages);
    write("frame-all-gzip".into(), frame::msg_frame(99, &all, true))?;
    write(
        "fetch-body".into(),
        prost_encode(&result(all.messages[..4].to_vec())),
    )?;
    println!("wrote {written} seeds to {}", display(&out));
    Ok(())
}

fn prost_encode(result: &ProtoMessageFetchResult) -> Vec<u8> {
    // A `msg` frame's payload is the encoded fetch result: take it from an uncompressed frame.
    frame::decode_push_frame(&frame::msg_frame(0, result, false))
        .map(|f| f.payload)
        .unwrap_or_default()
}

fn display(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| PathBuf::from(path))
        .display()
        .to_string()
}
