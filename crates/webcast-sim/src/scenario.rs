//! What the simulator plays: a scripted [`Scenario`] of [`Step`]s, or a random stream.
//!
//! # Scenario file format (JSON)
//!
//! ```json
//! {
//!   "steps": [
//!     {"type": "join", "user": "alice"},
//!     {"type": "comment", "user": "alice", "text": "hello 👋"},
//!     {"type": "gift", "user": "bob", "gift": "Rose", "count": 5, "interval_ms": 100},
//!     {"type": "like", "user": "carol", "count": 15},
//!     {"type": "follow", "user": "dave"},
//!     {"type": "share", "user": "dave"},
//!     {"type": "subscribe", "user": "erin", "months": 2},
//!     {"type": "super_fan", "user": "erin"},
//!     {"type": "viewers", "total": 120, "total_user": 1500},
//!     {"type": "delete_comments", "user": "alice"},
//!     {"type": "envelope", "user": "bob", "diamonds": 100, "people": 25},
//!     {"type": "poll", "title": "Pizza or pasta?", "options": [["Pizza", 12], ["Pasta", 7]], "interval_ms": 500},
//!     {"type": "question", "user": "carol", "text": "where are you from?"},
//!     {"type": "pin", "user": "dave", "text": "welcome everyone!"},
//!     {"type": "battle", "rival": "rival_host", "points": 120, "rival_points": 80, "interval_ms": 500},
//!     {"type": "goal", "user": "erin", "description": "100 roses", "progress": 40, "target": 100},
//!     {"type": "pause", "ms": 500},
//!     {"type": "fault", "fault": "drop_connection"},
//!     {"type": "end"}
//!   ]
//! }
//! ```
//!
//! - `user` is a handle; the simulator derives a stable numeric id, a nickname (the handle), an
//!   avatar URL and a gifter-level badge from it. Handles starting with `mod` get a moderator
//!   badge.
//! - `gift` is a name from [`crate::messages::CATALOGUE`] (Rose, Finger Heart, TikTok: streakable;
//!   Heart Me, LIVE Fest Clappers, Galaxy: sent once). A streakable gift of `count` N is sent as
//!   the streak TikTok sends: counts 1..=N then a closing `repeat_end` message (unless
//!   `lose_end` is true); with `interval_ms` > 0 each step is its own frame, that far apart.
//! - Consecutive event steps without a pause are packed into frames of up to
//!   `max_messages_per_frame` messages.
//! - `delete_comments` deletes every comment the user made so far (their msg_ids and the
//!   user's id); `pin` pins the user's last comment (carrying `text`); a `poll` starts, gets
//!   half its votes, then ends with them; a `battle` of the streamer against `rival` opens,
//!   scores twice and finishes (won by whoever has more points).
//! - `fault` is one of: `drop_connection`, `garbage_frame`, `truncated_payload`,
//!   `unknown_method`, `undecodable_message`, `duplicate_msg_id`, `duplicate_frame`,
//!   `out_of_order_streak`, `lost_repeat_end`, `late_repeat_end`, `stream_end`.
//! - `end` sends a control message (action 3, stream ended) and closes the connection.
//! - `{"type": "frame", "frame_b64": "..."}` sends one raw binary frame as is (how recordings
//!   are replayed, see [`Scenario::replay`]); `{"type": "message", "method": "...",
//!   "payload_b64": "..."}` sends one message encoded elsewhere (a capture, or a peer library's
//!   encoding), packed with its neighbours.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use webcast::recording::RecordedFrame;

/// A scripted sequence of steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Played in order.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Parses a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The steps that replay a recording: each frame as a [`Step::Frame`], preceded by a
    /// pause of the recorded gap divided by `speed` (`speed` ≤ 0 or not finite: no pauses).
    pub fn replay(frames: &[RecordedFrame], speed: f64) -> Scenario {
        let mut steps = Vec::with_capacity(frames.len() * 2);
        let mut previous: Option<i64> = None;
        for f in frames {
            if let Some(p) = previous {
                let gap_ms = f.ts_ms.saturating_sub(p).max(0) as f64;
                if speed.is_finite() && speed > 0.0 && gap_ms > 0.0 {
                    let ms = Duration::from_secs_f64(gap_ms / speed / 1000.0).as_millis() as u64;
                    if ms > 0 {
                        steps.push(Step::Pause { ms });
                    }
                }
            }
            previous = Some(f.ts_ms);
            steps.push(Step::Frame {
                frame_b64: base64::engine::general_purpose::STANDARD.encode(&f.frame),
            });
        }
        Scenario { steps }
    }
}

/// One thing the simulated LIVE does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// A comment.
    Comment {
        /// Handle of the author.
        user: String,
        /// The text (emojis welcome).
        text: String,
    },
    /// A gift; a streak of `count` for streakable gifts.
    Gift {
        /// Handle of the sender.
        user: String,
        /// Gift name from the catalogue.
        gift: String,
        /// Streak length (1 = a single tap).
        #[serde(default = "one")]
        count: i32,
        /// Pause between streak steps; 0 packs them together.
        #[serde(default)]
        interval_ms: u64,
        /// Leave out the closing `repeat_end` message.
        #[serde(default)]
        lose_end: bool,
    },
    /// A batch of likes.
    Like {
        /// Handle of the liker.
        user: String,
        /// Likes in the batch.
        #[serde(default = "one")]
        count: i32,
    },
    /// A viewer joined.
    Join {
        /// Handle.
        user: String,
    },
    /// A follow.
    Follow {
        /// Handle.
        user: String,
    },
    /// A share.
    Share {
        /// Handle.
        user: String,
    },
    /// A subscription (WebcastSubNotifyMessage).
    Subscribe {
        /// Handle.
        user: String,
        /// Months subscribed.
        #[serde(default = "one_i64")]
        months: i64,
    },
    /// A "became a super fan" barrage.
    SuperFan {
        /// Handle.
        user: String,
    },
    /// Viewer counts.
    Viewers {
        /// Concurrent viewers.
        total: i64,
        /// Cumulative viewers.
        total_user: i64,
    },
    /// A moderator deletes every comment `user` made so far.
    DeleteComments {
        /// Handle of the author.
        user: String,
    },
    /// A treasure box.
    Envelope {
        /// Handle of the sender.
        user: String,
        /// Diamonds in the box.
        #[serde(default = "default_box_diamonds")]
        diamonds: i32,
        /// How many viewers can open it.
        #[serde(default = "default_box_people")]
        people: i32,
    },
    /// A poll: starts, gets half the votes, ends with `options`' votes.
    Poll {
        /// The question.
        title: String,
        /// (answer, final votes).
        options: Vec<(String, i64)>,
        /// Pause between its stages.
        #[serde(default)]
        interval_ms: u64,
    },
    /// A viewer's question.
    Question {
        /// Handle of the asker.
        user: String,
        /// The question.
        text: String,
    },
    /// `user`'s last comment pinned (carrying `text`).
    Pin {
        /// Handle of the comment's author.
        user: String,
        /// The pinned text.
        text: String,
    },
    /// A battle of the streamer against `rival`: opens, scores twice, finishes.
    Battle {
        /// Handle of the other host.
        rival: String,
        /// The streamer's final points.
        #[serde(default)]
        points: i64,
        /// The rival's final points.
        #[serde(default)]
        rival_points: i64,
        /// Pause between its stages.
        #[serde(default)]
        interval_ms: u64,
    },
    /// A LIVE goal moving.
    Goal {
        /// Handle of the contributor.
        user: String,
        /// What the goal is.
        description: String,
        /// Where it is now.
        progress: i64,
        /// Where it ends.
        target: i64,
    },
    /// Wait.
    Pause {
        /// Milliseconds.
        ms: u64,
    },
    /// Misbehave on purpose.
    Fault {
        /// Which fault.
        fault: Fault,
    },
    /// The stream ends (control action 3), then the connection closes.
    End,
    /// One raw binary frame, sent as is (a recorded frame being replayed; see
    /// [`Scenario::replay`]).
    Frame {
        /// The frame, standard base64.
        frame_b64: String,
    },
    /// One message whose payload was encoded elsewhere (e.g. with a peer library's schema),
    /// packed into frames with its neighbours like any other.
    Message {
        /// The `method` it is dispatched under, e.g. `WebcastPollMessage`.
        method: String,
        /// The payload (the inner message bytes), standard base64.
        payload_b64: String,
    },
}

fn one() -> i32 {
    1
}

fn one_i64() -> i64 {
    1
}

fn default_box_diamonds() -> i32 {
    100
}

fn default_box_people() -> i32 {
    20
}

/// The ways the simulator can misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Close the WebSocket abruptly (the client must reconnect with a fresh signed fetch).
    DropConnection,
    /// A binary frame that is not a push frame.
    GarbageFrame,
    /// A `msg` frame whose gzip payload is cut in half.
    TruncatedPayload,
    /// A frame with a message of an unknown method next to a valid comment.
    UnknownMethod,
    /// A frame with an undecodable gift message next to a valid comment.
    UndecodableMessage,
    /// The previous message sent again with the same msg_id, in a new frame.
    DuplicateMsgId,
    /// The previous `msg` frame sent again byte for byte (same log_id, same payload), as a
    /// server retrying an unacknowledged push does.
    DuplicateFrame,
    /// A Rose streak whose counts arrive 1, 3, 2, 5, 4, then end at 5, one per frame.
    OutOfOrderStreak,
    /// A Rose streak 1, 2, 3 whose `repeat_end` never comes.
    LostRepeatEnd,
    /// A Rose streak 1, 2, 3 whose `repeat_end` (at 5) comes
    /// [`late_end_after`](crate::SimulatorConfig::late_end_after) after its last step: after a
    /// client's streak timeout, it must correct the total the timeout closed with.
    LateRepeatEnd,
    /// The stream ends (same as the `end` step).
    StreamEnd,
}

impl Fault {
    /// Every fault, for tests and the CLI.
    pub const ALL: &'static [Fault] = &[
        Fault::DropConnection,
        Fault::GarbageFrame,
        Fault::TruncatedPayload,
        Fault::UnknownMethod,
        Fault::UndecodableMessage,
        Fault::DuplicateMsgId,
        Fault::DuplicateFrame,
        Fault::OutOfOrderStreak,
        Fault::LostRepeatEnd,
        Fault::LateRepeatEnd,
        Fault::StreamEnd,
    ];
}

/// Relative weights of the random stream's step kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mix {
    /// Comments (with emojis and several scripts).
    pub comment: u32,
    /// Gifts (streaks of 1-10 for streakable gifts).
    pub gift: u32,
    /// Like batches.
    pub like: u32,
    /// Joins.
    pub join: u32,
    /// Follows.
    pub follow: u32,
    /// Shares.
    pub share: u32,
    /// Subscriptions.
    pub subscribe: u32,
    /// Viewer-count updates.
    pub viewers: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            comment: 30,
            gift: 15,
            like: 25,
            join: 15,
            follow: 6,
            share: 3,
            subscribe: 1,
            viewers: 5,
        }
    }
}

/// A random stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomStream {
    /// Messages per second (a gift streak's messages count one each).
    pub rate_per_sec: f64,
    /// What to generate.
    pub mix: Mix,
    /// Seed for a reproducible stream; random when `None`.
    pub seed: Option<u64>,
}

impl Default for RandomStream {
    fn default() -> Self {
        Self {
            rate_per_sec: 10.0,
            mix: Mix::default(),
            seed: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_keeps_the_recorded_gaps_at_its_speed() {
        let frames = [
            RecordedFrame {
                ts_ms: 1000,
                frame: vec![1, 2, 3],
            },
            RecordedFrame {
                ts_ms: 1250,
                frame: vec![0xff],
            },
        ];
        let scenario = Scenario::replay(&frames, 2.0);
        assert_eq!(scenario.steps.len(), 3);
        assert_eq!(scenario.steps[1], Step::Pause { ms: 125 });
        assert_eq!(
            scenario.steps[2],
            Step::Frame {
                frame_b64: "/w==".into()
            }
        );
        assert_eq!(Scenario::replay(&frames, 0.0).steps.len(), 2);
    }
}
