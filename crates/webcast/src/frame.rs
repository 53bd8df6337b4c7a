//! Push frames: building the frames the client sends (heartbeat, ack, enter-room) and opening
//! the frames the server sends (gunzip, then [`ProtoMessageFetchResult`]).

use std::io::Read;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::proto::{
    HeartBeatMessage, ProtoMessageFetchResult, PushHeader, WebcastImEnterRoomMessage,
    WebcastPushFrame,
};

/// `payload_type` of a server frame carrying events.
pub const PAYLOAD_MSG: &str = "msg";
/// `payload_type` of a heartbeat (both directions).
pub const PAYLOAD_HEARTBEAT: &str = "hb";
/// `payload_type` of an acknowledgement (both directions).
pub const PAYLOAD_ACK: &str = "ack";
/// `payload_type` of the client's enter-room request.
pub const PAYLOAD_ENTER_ROOM: &str = "im_enter_room";
/// `payload_type` of the server's answer to enter-room.
pub const PAYLOAD_ENTER_ROOM_RESP: &str = "im_enter_room_resp";
/// The only `payload_encoding` in use.
const ENCODING_PB: &str = "pb";
/// The push-frame header that says whether the payload is compressed.
const HEADER_COMPRESS_TYPE: &str = "compress_type";
/// `live_id` sent in enter-room: a constant of the web client.
const ENTER_ROOM_LIVE_ID: i64 = 12;

/// The gzip magic (two id bytes plus the deflate method).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Upper bound on a decompressed payload. Real frames are a few KB; this stops a gzip bomb
/// (or a corrupted length) from exhausting memory.
const MAX_DECOMPRESSED_LEN: u64 = 16 * 1024 * 1024;

/// Why a frame could not be opened. Never fatal for the connection: the caller counts it and
/// goes on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The bytes are not a push frame.
    #[error("not a push frame ({len} bytes): {source}")]
    PushFrame {
        /// Size of the rejected frame.
        len: usize,
        /// The protobuf error.
        source: prost::DecodeError,
    },
    /// The payload looked gzipped but did not inflate.
    #[error("gzip payload of frame log_id {log_id} is corrupt: {source}")]
    Gzip {
        /// log_id of the frame.
        log_id: i64,
        /// The I/O error from the inflater.
        source: std::io::Error,
    },
    /// The payload inflated to more than 16 MiB.
    #[error("gzip payload of frame log_id {log_id} inflates beyond {MAX_DECOMPRESSED_LEN} bytes")]
    TooLarge {
        /// log_id of the frame.
        log_id: i64,
    },
    /// The (inflated) payload is not a fetch result.
    #[error("payload of frame log_id {log_id} is not a fetch result ({len} bytes): {source}")]
    FetchResult {
        /// log_id of the frame.
        log_id: i64,
        /// Size of the inflated payload.
        len: usize,
        /// The protobuf error.
        source: prost::DecodeError,
    },
}

/// Decodes one WebSocket binary message as a push frame.
pub fn decode_push_frame(bytes: &[u8]) -> Result<WebcastPushFrame, FrameError> {
    WebcastPushFrame::decode(bytes).map_err(|source| FrameError::PushFrame {
        len: bytes.len(),
        source,
    })
}

/// The value of a push-frame header, if present.
fn header<'a>(frame: &'a WebcastPushFrame, key: &str) -> Option<&'a str> {
    frame
        .headers
        .iter()
        .find(|h| h.key == key)
        .map(|h| h.value.as_str())
}

/// Whether the payload of `frame` is gzipped: the `compress_type` header says so, or the
/// payload starts with the gzip magic (the two libraries detect it differently; we do both).
pub fn is_gzipped(frame: &WebcastPushFrame) -> bool {
    header(frame, HEADER_COMPRESS_TYPE).is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
        || frame.payload.starts_with(&GZIP_MAGIC)
}

/// Returns `bytes` inflated if they start with the gzip magic, unchanged otherwise.
fn gunzip_if_needed(bytes: &[u8], log_id: i64) -> Result<Vec<u8>, FrameError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        gunzip(bytes, log_id)
    } else {
        Ok(bytes.to_vec())
    }
}

fn gunzip(bytes: &[u8], log_id: i64) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    // Read one byte past the limit so that "exactly at the limit" and "beyond" differ.
    GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_LEN + 1)
        .read_to_end(&mut out)
        .map_err(|source| FrameError::Gzip { log_id, source })?;
    if out.len() as u64 > MAX_DECOMPRESSED_LEN {
        return Err(FrameError::TooLarge { log_id });
    }
    Ok(out)
}

/// Opens the payload of a `msg` frame: gunzip when needed, then decode the fetch result.
pub fn decode_fetch_result(
    frame: &WebcastPushFrame,
) -> Result<ProtoMessageFetchResult, FrameError> {
    let log_id = frame.log_id;
    let inflated;
    let payload: &[u8] = if is_gzipped(frame) {
        inflated = gunzip(&frame.payload, log_id)?;
        &inflated
    } else {
        &frame.payload
    };
    ProtoMessageFetchResult::decode(payload).map_err(|source| FrameError::FetchResult {
        log_id,
        len: payload.len(),
        source,
    })
}

/// Decodes the body of the sign server's `/webcast/fetch` (plain protobuf in practice; sniffed
/// for gzip anyway).
pub fn decode_fetch_body(body: &[u8]) -> Result<ProtoMessageFetchResult, FrameError> {
    let payload = gunzip_if_needed(body, 0)?;
    ProtoMessageFetchResult::decode(payload.as_slice()).map_err(|source| FrameError::FetchResult {
        log_id: 0,
        len: payload.len(),
        source,
    })
}

/// Compresses `bytes` with gzip (what the server does when the URL asks for `compress=gzip`).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 32),
        Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// The heartbeat frame: `{6:"pb", 7:"hb", 8: HeartBeatMessage{room_id, seq}}` (reference §3.2).
/// `room_id` is our usual signed id; the message declares it uint64 (reference §8).
pub(crate) fn heartbeat_frame(room_id: i64, send_packet_seq_id: u64) -> Vec<u8> {
    let payload = HeartBeatMessage {
        // Room ids are positive; reinterpreting the bits keeps even a bogus negative id
        // wire-identical to what an int64 field would have sent.
        room_id: room_id as u64,
        send_packet_seq_id,
    }
    .encode_to_vec();
    push_frame(PAYLOAD_HEARTBEAT, 0, payload)
}

/// The ack of a `need_ack` response: the frame's `log_id` and the response's `internal_ext`
/// as payload (reference §3.1).
pub(crate) fn ack_frame(log_id: i64, internal_ext: &str) -> Vec<u8> {
    push_frame(PAYLOAD_ACK, log_id, internal_ext.as_bytes().to_vec())
}

/// The enter-room frame sent right after the WebSocket opens (reference §3.3).
pub(crate) fn enter_room_frame(room_id: i64) -> Vec<u8> {
    let payload = WebcastImEnterRoomMessage {
        room_id,
        live_id: ENTER_ROOM_LIVE_ID,
        identity: "audience".to_owned(),
        filter_welcome_msg: "0".to_owned(),
        ..Default::default()
    }
    .encode_to_vec();
    push_frame(PAYLOAD_ENTER_ROOM, 0, payload)
}

/// An uncompressed push frame of `payload_type`: what both sides send for everything but
/// `msg` (heartbeats, acks, enter-room and the server's answers to them).
pub fn push_frame(payload_type: &str, log_id: i64, payload: Vec<u8>) -> Vec<u8> {
    WebcastPushFrame {
        log_id,
        payload_encoding: ENCODING_PB.to_owned(),
        payload_type: payload_type.to_owned(),
        payload,
        ..Default::default()
    }
    .encode_to_vec()
}

/// Builds a server `msg` frame around a fetch result, gzipped with the `compress_type` header
/// when `compress` is set (used by the simulator and by tests).
pub fn msg_frame(log_id: i64, result: &ProtoMessageFetchResult, compress: bool) -> Vec<u8> {
    let raw = result.encode_to_vec();
    let (headers, payload) = if compress {
        (
            vec![PushHeader {
                key: HEADER_COMPRESS_TYPE.to_owned(),
                value: "gzip".to_owned(),
            }],
            gzip(&raw),
        )
    } else {
        (Vec::new(), raw)
    };
    WebcastPushFrame {
        log_id,
        headers,
        payload_encoding: ENCODING_PB.to_owned(),
        payload_type: PAYLOAD_MSG.to_owned(),
        payload,
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const ROOM: i64 = 7_300_000_000_000_000_000;

    #[test]
    fn heartbeat_matches_reference_vector() {
        assert_eq!(
            hex(&heartbeat_frame(ROOM, 1)),
            "320270623a026862420c088080e8e2aaeab3a7651001"
        );
    }

    #[test]
    fn heartbeat_fields_are_unsigned_and_decode_back() {
        let frame =
            decode_push_frame(&heartbeat_frame(ROOM, u64::from(u32::MAX) + 7)).expect("push frame");
        let hb = HeartBeatMessage::decode(frame.payload.as_slice()).expect("heartbeat");
        assert_eq!(hb.room_id, 7_300_000_000_000_000_000_u64);
        assert_eq!(hb.send_packet_seq_id, u64::from(u32::MAX) + 7);
    }

    #[test]
    fn ack_matches_reference_vector() {
        assert_eq!(hex(&ack_frame(42, "ie")), "102a320270623a0361636b42026965");
    }

    #[test]
    fn enter_room_matches_reference_vector() {
        assert_eq!(
            hex(&enter_room_frame(ROOM)),
            "320270623a0d696d5f656e7465725f726f6f6d4219088080e8e2aaeab3a765200c2a0861756469656e63654a0130"
        );
    }

    #[test]
    fn legacy_heartbeats_decode_as_hb_frames() {
        for bytes in [
            &[0x3a, 0x02, 0x68, 0x62][..],
            &[0x32, 0x02, 0x70, 0x62, 0x3a, 0x02, 0x68, 0x62],
        ] {
            let frame = decode_push_frame(bytes).expect("decodes");
            assert_eq!(frame.payload_type, PAYLOAD_HEARTBEAT);
        }
    }

    #[test]
    fn msg_frame_round_trips_gzipped_and_plain() {
        let result = ProtoMessageFetchResult {
            cursor: "c1".into(),
            internal_ext: "ie".into(),
            need_ack: true,
            ..Default::default()
        };
        for compress in [true, false] {
            let bytes = msg_frame(7, &result, compress);
            let frame = decode_push_frame(&bytes).expect("frame");
            assert_eq!(is_gzipped(&frame), compress);
            assert_eq!(frame.log_id, 7);
            assert_eq!(decode_fetch_result(&frame).expect("result"), result);
        }
    }

    #[test]
    fn gzip_detected_by_magic_without_header() {
        let result = ProtoMessageFetchResult {
            cursor: "magic".into(),
            ..Default::default()
        };
        let frame = WebcastPushFrame {
            payload_type: PAYLOAD_MSG.into(),
            payload: gzip(&result.encode_to_vec()),
            ..Default::default()
        };
        assert!(is_gzipped(&frame));
        assert_eq!(decode_fetch_result(&frame).expect("result").cursor, "magic");
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_panic() {
        let result = ProtoMessageFetchResult {
            cursor: "x".repeat(500),
            ..Default::default()
        };
        let mut payload = gzip(&result.encode_to_vec());
        payload.truncate(payload.len() / 2);
        let frame = WebcastPushFrame {
            payload,
            ..Default::default()
        };
        assert!(matches!(
            decode_fetch_result(&frame),
            Err(FrameError::Gzip { .. })
        ));
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let zeros = vec![0u8; (MAX_DECOMPRESSED_LEN + 10) as usize];
        let frame = WebcastPushFrame {
            log_id: 3,
            payload: gzip(&zeros),
            ..Default::default()
        };
        assert!(matches!(
            decode_fetch_result(&frame),
            Err(FrameError::TooLarge { log_id: 3 })
        ));
    }
}
