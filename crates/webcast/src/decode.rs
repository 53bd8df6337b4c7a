//! Per-message decoding: each [`BaseProtoMessage`] of a fetch result is decoded on its own, by
//! its `method` string. An unknown or undecodable message is counted and skipped (its raw bytes
//! kept for debug logs); it never fails the frame or the connection.

use prost::Message;

use crate::proto::{
    BaseProtoMessage, CommonMessageData, ProtoMessageFetchResult, WebcastBarrageMessage,
    WebcastChatMessage, WebcastControlMessage, WebcastEmoteChatMessage, WebcastEnvelopeMessage,
    WebcastGiftMessage, WebcastGoalUpdateMessage, WebcastImDeleteMessage, WebcastLikeMessage,
    WebcastLinkMicArmies, WebcastLinkMicBattle, WebcastMemberMessage, WebcastPollMessage,
    WebcastQuestionNewMessage, WebcastRoomPinMessage, WebcastRoomUserSeqMessage,
    WebcastSocialMessage, WebcastSubNotifyMessage,
};

/// Declares [`WebcastMessage`]: one variant per decoded method, whose `method` string is the
/// name of its protobuf message (TikTok dispatches on exactly that name), and the methods that
/// map between the two. One list, so a new message is one line.
macro_rules! webcast_messages {
    ($( $(#[$doc:meta])* $variant:ident($message:ident), )+) => {
        /// One event message, decoded according to its `method`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum WebcastMessage {
            $( $(#[$doc])* $variant($message), )+
        }

        impl WebcastMessage {
            /// The `method` names this decoder understands.
            pub const METHODS: &'static [&'static str] = &[$( stringify!($message), )+];

            /// Decodes `payload` as the message named `method`.
            pub fn decode(method: &str, payload: &[u8]) -> Result<Self, MessageError> {
                fn de<M: Message + Default>(method: &str, payload: &[u8]) -> Result<M, MessageError> {
                    M::decode(payload).map_err(|source| MessageError::Undecodable {
                        method: method.to_owned(),
                        source,
                    })
                }
                Ok(match method {
                    $( stringify!($message) => Self::$variant(de(method, payload)?), )+
                    other => {
                        return Err(MessageError::UnknownMethod {
                            method: other.to_owned(),
                        })
                    }
                })
            }

            /// The common data (field 1) of the message, if it carried one.
            pub fn common(&self) -> Option<&CommonMessageData> {
                match self {
                    $( Self::$variant(m) => m.common.as_ref(), )+
                }
            }

            /// Encodes the message back to its payload bytes (used by the simulator and by
            /// tests).
            pub fn encode_payload(&self) -> Vec<u8> {
                match self {
                    $( Self::$variant(m) => m.encode_to_vec(), )+
                }
            }

            /// The `method` string this message is dispatched under.
            pub fn method(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => stringify!($message), )+
                }
            }
        }
    };
}

webcast_messages! {
    /// `WebcastChatMessage`: a comment.
    Chat(WebcastChatMessage),
    /// `WebcastEmoteChatMessage`: a sticker-only comment.
    EmoteChat(WebcastEmoteChatMessage),
    /// `WebcastGiftMessage`: a gift or a streak step.
    Gift(WebcastGiftMessage),
    /// `WebcastLikeMessage`: a batch of likes.
    Like(WebcastLikeMessage),
    /// `WebcastMemberMessage`: a join or a moderation action.
    Member(WebcastMemberMessage),
    /// `WebcastSocialMessage`: a follow or a share.
    Social(WebcastSocialMessage),
    /// `WebcastRoomUserSeqMessage`: viewer counts.
    RoomUserSeq(WebcastRoomUserSeqMessage),
    /// `WebcastControlMessage`: stream paused, resumed or ended.
    Control(WebcastControlMessage),
    /// `WebcastSubNotifyMessage`: a subscription.
    SubNotify(WebcastSubNotifyMessage),
    /// `WebcastBarrageMessage`: a banner (super-fan notices).
    Barrage(WebcastBarrageMessage),
    /// `WebcastEnvelopeMessage`: a treasure box.
    Envelope(WebcastEnvelopeMessage),
    /// `WebcastImDeleteMessage`: comments deleted by a moderator.
    ImDelete(WebcastImDeleteMessage),
    /// `WebcastPollMessage`: a poll started, got votes or ended.
    Poll(WebcastPollMessage),
    /// `WebcastQuestionNewMessage`: a viewer's question.
    QuestionNew(WebcastQuestionNewMessage),
    /// `WebcastRoomPinMessage`: a comment pinned or unpinned.
    RoomPin(WebcastRoomPinMessage),
    /// `WebcastLinkMicBattle`: a battle between hosts changed state.
    LinkMicBattle(WebcastLinkMicBattle),
    /// `WebcastLinkMicArmies`: the points of a running battle.
    LinkMicArmies(WebcastLinkMicArmies),
    /// `WebcastGoalUpdateMessage`: a LIVE goal moved.
    GoalUpdate(WebcastGoalUpdateMessage),
}

impl WebcastMessage {
    /// Wraps the message in a [`BaseProtoMessage`] with the given id.
    pub fn to_base(&self, msg_id: i64) -> BaseProtoMessage {
        BaseProtoMessage {
            method: self.method().to_owned(),
            payload: self.encode_payload(),
            msg_id,
            ..Default::default()
        }
    }
}

/// Why one message of a frame was skipped.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A `method` we do not decode (there are dozens; most carry nothing we store).
    #[error("unknown method {method}")]
    UnknownMethod {
        /// The method string.
        method: String,
    },
    /// A known method whose payload did not decode.
    #[error("{method} payload does not decode: {source}")]
    Undecodable {
        /// The method string.
        method: String,
        /// The protobuf error.
        source: prost::DecodeError,
    },
}

/// A decoded message with the wrapper's facts that mapping needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMessage {
    /// `BaseProtoMessage.msg_id` (the common data's msg_id is preferred when present).
    pub msg_id: i64,
    /// Replayed history from the initial fetch.
    pub is_history: bool,
    /// The message.
    pub message: WebcastMessage,
}

/// A message that was skipped, with its raw bytes for debug logging.
#[derive(Debug)]
pub struct SkippedMessage {
    /// Why it was skipped.
    pub error: MessageError,
    /// The raw payload.
    pub raw: Vec<u8>,
}

/// Counters of what one fetch result contained.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Messages decoded.
    pub decoded: usize,
    /// Messages with an unknown method.
    pub unknown: usize,
    /// Messages of a known method that failed to decode.
    pub undecodable: usize,
}

/// Every message of one fetch result, decoded independently.
#[derive(Debug, Default)]
pub struct DecodedBatch {
    /// The messages that decoded, in order.
    pub messages: Vec<DecodedMessage>,
    /// The ones that did not.
    pub skipped: Vec<SkippedMessage>,
    /// Counts of both.
    pub stats: DecodeStats,
}

/// Hex of the first bytes of a payload, for debug logs of skipped messages.
struct HexPreview<'a>(&'a [u8]);

impl std::fmt::Display for HexPreview<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 256;
        for b in self.0.iter().take(MAX) {
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > MAX {
            write!(f, "…(+{} bytes)", self.0.len() - MAX)?;
        }
        Ok(())
    }
}

/// Decodes every message of `result` on its own.
pub fn decode_messages(result: &ProtoMessageFetchResult) -> DecodedBatch {
    let mut batch = DecodedBatch::default();
    for base in &result.messages {
        match WebcastMessage::decode(&base.method, &base.payload) {
            Ok(message) => {
                let msg_id = message
                    .common()
                    .map(|c| c.msg_id)
                    .filter(|id| *id != 0)
                    .unwrap_or(base.msg_id);
                batch.stats.decoded += 1;
                batch.messages.push(DecodedMessage {
                    msg_id,
                    is_history: base.is_history,
                    message,
                });
            }
            Err(error) => {
                match error {
                    MessageError::UnknownMethod { .. } => batch.stats.unknown += 1,
                    MessageError::Undecodable { .. } => batch.stats.undecodable += 1,
                }
                tracing::debug!(
                    %error,
                    len = base.payload.len(),
                    raw = %HexPreview(&base.payload),
                    "skipping message"
                );
                batch.skipped.push(SkippedMessage {
                    error,
                    raw: base.payload.clone(),
                });
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{BaseProtoMessage, WebcastChatMessage};

    #[test]
    fn one_bad_message_does_not_spoil_the_batch() {
        let chat = WebcastMessage::Chat(WebcastChatMessage {
            content: "hi".into(),
            ..Default::default()
        });
        let result = ProtoMessageFetchResult {
            messages: vec![
                BaseProtoMessage {
                    method: "WebcastGiftMessage".into(),
                    payload: vec![0xff, 0xff, 0xff],
                    ..Default::default()
                },
                BaseProtoMessage {
                    method: "WebcastLinkMicBattlePunishFinish".into(),
                    payload: vec![1, 2, 3],
                    ..Default::default()
                },
                chat.to_base(9),
            ],
            ..Default::default()
        };
        let batch = decode_messages(&result);
        assert_eq!(
            batch.stats,
            DecodeStats {
                decoded: 1,
                unknown: 1,
                undecodable: 1
            }
        );
        assert_eq!(batch.messages[0].message, chat);
        assert_eq!(batch.messages[0].msg_id, 9);
        assert_eq!(batch.skipped[0].raw, vec![0xff, 0xff, 0xff]);
        assert_eq!(HexPreview(&batch.skipped[0].raw).to_string(), "ffffff");
        assert!(HexPreview(&[0u8; 300])
            .to_string()
            .ends_with("…(+44 bytes)"));
    }
}
