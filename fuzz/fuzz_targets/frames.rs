//! One input, every decoding path the client runs on bytes from the network: as a WebSocket
//! push frame (gunzip, fetch result, each message by its method, mapping), as the body of a
//! signed fetch, and as the payload of every known message. Nothing may panic, whatever the
//! bytes.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use webcast::decode::{decode_messages, DecodedMessage, WebcastMessage};
use webcast::frame;
use webcast::mapping::Mapper;

fuzz_target!(|bytes: &[u8]| {
    let now = Instant::now();
    let mut mapper = Mapper::default();
    if let Ok(push) = frame::decode_push_frame(bytes) {
        let _ = frame::is_gzipped(&push);
        if let Ok(result) = frame::decode_fetch_result(&push) {
            let _ = mapper.map_batch(&decode_messages(&result), now);
        }
    }
    if let Ok(result) = frame::decode_fetch_body(bytes) {
        let _ = mapper.map_batch(&decode_messages(&result), now);
    }
    for method in WebcastMessage::METHODS {
        if let Ok(message) = WebcastMessage::decode(method, bytes) {
            let decoded = DecodedMessage {
                msg_id: 1,
                is_history: false,
                message,
            };
            let _ = mapper.map(&decoded, now);
        }
    }
    let _ = mapper.expire_streaks(now + Duration::from_secs(3600));
    let _ = mapper.finish_streaks(now + Duration::from_secs(7200));
});
