//! What a step expands to: the messages, frames, pauses and faults the player sends, with ids
//! and counters kept consistent across the whole stream; and the steps of the random stream.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use webcast::decode::WebcastMessage;
use webcast::frame;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

use crate::messages::{self, gift_by_name, Meta, PollStage, CATALOGUE};
use crate::scenario::{Fault, Mix, Step};

/// One unit of what a step expands to.
#[derive(Debug)]
pub(crate) enum Piece {
    /// A message, packed with its neighbours into one frame.
    Message(BaseProtoMessage),
    /// A frame of its own (faults that need frame boundaries).
    Frame(Vec<BaseProtoMessage>),
    /// Raw bytes sent as one WebSocket message.
    Raw(Vec<u8>),
    /// The last `msg` frame sent, again, byte for byte.
    RepeatLastFrame,
    /// Wait (what is pending goes out first).
    Pause(Duration),
    /// Close the connection abruptly.
    Drop,
    /// Close the connection cleanly: the stream is over.
    End,
}

impl Piece {
    /// Messages the piece carries (what the random stream's rate counts).
    pub(crate) fn messages(&self) -> u64 {
        match self {
            Piece::Message(_) => 1,
            Piece::Frame(messages) => messages.len() as u64,
            _ => 0,
        }
    }
}

/// Expands steps into pieces, keeping ids and counters consistent across the stream.
pub(crate) struct Script {
    room_id: i64,
    next_msg_id: i64,
    next_group_id: i64,
    total_likes: i64,
    followers: i64,
    shares: i64,
    viewers: i32,
    /// Ids of polls, battles, boxes, questions and goals.
    next_thing_id: i64,
    /// The msg_ids of each user's comments, for deletions and pins.
    comments: HashMap<String, Vec<i64>>,
    /// How long after a streak's last step [`Fault::LateRepeatEnd`] sends its end.
    late_end_after: Duration,
    last_message: Option<BaseProtoMessage>,
    rng: StdRng,
}

const COMMENTS: &[&str] = &[
    "hello 👋",
    "🔥🔥🔥",
    "love this ❤️",
    "first time here!",
    "¿de dónde eres?",
    "جميل جدا",
    "こんにちは 🌸",
    "GG 🎉🎉",
    "can you say hi to me? 🙏",
    "Привет из Москвы",
];

const NAMES: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mod_mallory",
    "niaj",
];

/// The bytes of [`Fault::GarbageFrame`]: not a push frame.
const GARBAGE: [u8; 8] = [0xff, 0xfe, 0x00, 0x13, 0x37, 0x42, 0x0f, 0xff];

impl Script {
    /// A script for `room_id`; `seed` makes its random steps reproducible.
    pub(crate) fn new(room_id: i64, seed: Option<u64>, late_end_after: Duration) -> Self {
        Self {
            room_id,
            next_msg_id: 7_400_000_000_000_000_000,
            next_group_id: 1_700_000_000_000,
            total_likes: 0,
            followers: 1000,
            shares: 0,
            viewers: 10,
            next_thing_id: 7_500_000_000_000_000_000,
            comments: HashMap::new(),
            late_end_after,
            last_message: None,
            rng: seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64),
        }
    }

    /// The pieces of one step.
    pub(crate) fn expand(&mut self, step: &Step) -> Vec<Piece> {
        match step {
            Step::Comment { user, text } => {
                let piece = self.msg(|m| messages::comment(m, user, text));
                self.comments
                    .entry(user.clone())
                    .or_default()
                    .push(self.next_msg_id);
                vec![piece]
            }
            Step::Gift {
                user,
                gift,
                count,
                interval_ms,
                lose_end,
            } => self.gift(
                user,
                gift,
                *count,
                Duration::from_millis(*interval_ms),
                *lose_end,
            ),
            Step::Like { user, count } => {
                self.total_likes += i64::from(*count);
                let total = self.total_likes;
                vec![self.msg(|m| messages::like(m, user, *count, total))]
            }
            Step::Join { user } => {
                self.viewers += 1;
                let viewers = self.viewers;
                vec![self.msg(|m| messages::join(m, user, viewers))]
            }
            Step::Follow { user } => {
                self.followers += 1;
                let n = self.followers;
                vec![self.msg(|m| messages::social(m, user, 1, n))]
            }
            Step::Share { user } => {
                self.shares += 1;
                let n = self.shares;
                vec![self.msg(|m| messages::social(m, user, 3, n))]
            }
            Step::Subscribe { user, months } => {
                vec![self.msg(|m| messages::subscribe(m, user, *months))]
            }
            Step::SuperFan { user } => vec![self.msg(|m| messages::super_fan(m, user))],
            Step::Viewers { total, total_user } => {
                vec![self.msg(|m| messages::viewers(m, *total, *total_user, &["alice", "bob"]))]
            }
            Step::DeleteComments { user } => {
                let ids = self.comments.remove(user).unwrap_or_default();
                vec![self.msg(|m| messages::comments_deleted(m, &ids, &[user.as_str()]))]
            }
            Step::Envelope {
                user,
                diamonds,
                people,
            } => {
                let id = self.next_thing();
                vec![self.msg(|m| messages::envelope(m, id, user, *diamonds, *people))]
            }
            Step::Poll {
                title,
                options,
                interval_ms,
            } => self.poll(title, options, Duration::from_millis(*interval_ms)),
            Step::Question { user, text } => {
                let id = self.next_thing();
                vec![self.msg(|m| messages::question(m, id, user, text))]
            }
            Step::Pin { user, text } => {
                let pinned = match self.comments.get(user).and_then(|ids| ids.last()) {
                    Some(id) => *id,
                    None => self.next_thing(),
                };
                vec![self.msg(|m| messages::room_pin(m, pinned, user, text, false))]
            }
            Step::Battle {
                rival,
                points,
                rival_points,
                interval_ms,
            } => self.battle(
                rival,
                [*points, *rival_points],
                Duration::from_millis(*interval_ms),
            ),
            Step::Goal {
                user,
                description,
                progress,
                target,
            } => {
                let id = self.next_thing();
                vec![self.msg(|m| messages::goal(m, id, description, *progress, *target, user))]
            }
            Step::Pause { ms } => vec![Piece::Pause(Duration::from_millis(*ms))],
            Step::End => vec![self.msg(|m| messages::control(m, 3)), Piece::End],
            Step::Fault { fault } => self.fault(*fault),
            Step::Frame { frame_b64 } => raw_frame(frame_b64),
            Step::Message {
                method,
                payload_b64,
            } => match base64::engine::general_purpose::STANDARD.decode(payload_b64) {
                Ok(payload) => vec![Piece::Message(self.raw_message(method, &payload))],
                Err(error) => {
                    tracing::warn!(%error, "message step is not base64; skipped");
                    Vec::new()
                }
            },
        }
    }

    /// A gift: a streakable one as the streak TikTok sends (counts 1..=N, then the closing
    /// message unless it is lost), any other once per tap, never with a closing message.
    fn gift(
        &mut self,
        user: &str,
        gift: &str,
        count: i32,
        interval: Duration,
        lose_end: bool,
    ) -> Vec<Piece> {
        let info = gift_by_name(gift);
        let count = count.max(1);
        if info.gift_type != 1 {
            return (0..count)
                .map(|_| self.msg(|m| messages::gift(m, user, &info, 1, false, 0)))
                .collect();
        }
        let counts: Vec<i32> = (1..=count).collect();
        let end = (!lose_end).then_some(count);
        self.streak(user, gift, &counts, end, interval, false)
    }

    /// The next id of a poll, battle, box, question or goal.
    fn next_thing(&mut self) -> i64 {
        self.next_thing_id += 1;
        self.next_thing_id
    }

    /// A poll: it starts with no votes, gets half of them, then ends with `options`' votes,
    /// `interval` apart.
    fn poll(&mut self, title: &str, options: &[(String, i64)], interval: Duration) -> Vec<Piece> {
        let id = self.next_thing();
        let votes = |share: i64| -> Vec<(&str, i64)> {
            options
                .iter()
                .map(|(text, votes)| (text.as_str(), votes * share / 2))
                .collect()
        };
        let mut pieces = Vec::new();
        for (i, (stage, share)) in [
            (PollStage::Start, 0),
            (PollStage::Update, 1),
            (PollStage::End, 2),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 && !interval.is_zero() {
                pieces.push(Piece::Pause(interval));
            }
            let votes = votes(share);
            pieces.push(self.msg(|m| messages::poll(m, id, stage, title, &votes)));
        }
        pieces
    }

    /// A battle of the streamer against `rival`: it opens, the points come in twice, then it
    /// finishes (won by whoever has more), `interval` apart.
    fn battle(&mut self, rival: &str, points: [i64; 2], interval: Duration) -> Vec<Piece> {
        let id = self.next_thing();
        let (host, fan) = ("sim_streamer", "top_fan");
        let (winner, loser, order) = if points[0] >= points[1] {
            (host, rival, points)
        } else {
            (rival, host, [points[1], points[0]])
        };
        let mut pieces = vec![self.msg(|m| messages::battle(m, id, &[host, rival], false, &[]))];
        for share in [1, 2] {
            if !interval.is_zero() {
                pieces.push(Piece::Pause(interval));
            }
            let scores = [
                (host, points[0] * share / 2),
                (rival, points[1] * share / 2),
            ];
            pieces.push(self.msg(|m| messages::battle_score(m, id, &scores, fan)));
        }
        if !interval.is_zero() {
            pieces.push(Piece::Pause(interval));
        }
        pieces.push(self.msg(|m| messages::battle(m, id, &[winner, loser], true, &order)));
        pieces
    }

    /// A streak of `counts`, then `end` as the closing count; each step its own frame when
    /// `own_frames`, `interval` apart.
    fn streak(
        &mut self,
        user: &str,
        gift: &str,
        counts: &[i32],
        end: Option<i32>,
        interval: Duration,
        own_frames: bool,
    ) -> Vec<Piece> {
        let info = gift_by_name(gift);
        self.next_group_id += 1;
        let group = self.next_group_id;
        let steps = counts
            .iter()
            .map(|c| (*c, false))
            .chain(end.map(|c| (c, true)));
        let mut pieces = Vec::new();
        for (i, (count, is_end)) in steps.enumerate() {
            if i > 0 && !interval.is_zero() {
                pieces.push(Piece::Pause(interval));
            }
            let message = self.message(|m| messages::gift(m, user, &info, count, is_end, group));
            pieces.push(if own_frames {
                Piece::Frame(vec![message])
            } else {
                Piece::Message(message)
            });
        }
        pieces
    }

    /// The pieces of a fault.
    fn fault(&mut self, fault: Fault) -> Vec<Piece> {
        match fault {
            Fault::DropConnection => vec![Piece::Drop],
            Fault::GarbageFrame => vec![Piece::Raw(GARBAGE.to_vec())],
            Fault::TruncatedPayload => vec![self.truncated_frame()],
            Fault::UnknownMethod => {
                let unknown = self.raw_message(
                    "WebcastMysteryMessage",
                    &[0x08, 0x01, 0x12, 0x03, b'a', b'b', b'c'],
                );
                let ok =
                    self.message(|m| messages::comment(m, "survivor", "after an unknown method"));
                vec![Piece::Frame(vec![unknown, ok])]
            }
            Fault::UndecodableMessage => {
                let broken =
                    self.raw_message("WebcastGiftMessage", &[0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
                let ok = self.message(|m| messages::comment(m, "survivor", "after a broken gift"));
                vec![Piece::Frame(vec![broken, ok])]
            }
            Fault::DuplicateMsgId => self.duplicate_message(),
            Fault::DuplicateFrame => self.duplicate_frame(),
            Fault::OutOfOrderStreak => {
                let counts = [1, 3, 2, 5, 4];
                self.streak("shuffler", "Rose", &counts, Some(5), Duration::ZERO, true)
            }
            Fault::LostRepeatEnd => {
                self.streak("quitter", "Rose", &[1, 2, 3], None, Duration::ZERO, true)
            }
            Fault::LateRepeatEnd => self.late_repeat_end(),
            Fault::StreamEnd => self.expand(&Step::End),
        }
    }

    /// A Rose streak 1, 2, 3 whose end, at 5 (two taps the client never saw as steps), comes
    /// only `late_end_after` after the last step.
    fn late_repeat_end(&mut self) -> Vec<Piece> {
        let mut pieces = self.streak("laggard", "Rose", &[1, 2, 3], None, Duration::ZERO, true);
        let info = gift_by_name("Rose");
        let group = self.next_group_id;
        pieces.push(Piece::Pause(self.late_end_after));
        let end = self.message(|m| messages::gift(m, "laggard", &info, 5, true, group));
        pieces.push(Piece::Frame(vec![end]));
        pieces
    }

    /// A `msg` frame whose gzip payload is cut short.
    fn truncated_frame(&mut self) -> Piece {
        let comment = self.message(|m| messages::comment(m, "truncated", "never seen"));
        let result = ProtoMessageFetchResult {
            messages: vec![comment],
            ..Default::default()
        };
        let mut bytes = frame::msg_frame(0, &result, true);
        bytes.truncate(bytes.len() - 10);
        Piece::Raw(bytes)
    }

    /// The previous message again, same msg_id, in a frame of its own (a fresh one, twice,
    /// when nothing was sent yet).
    fn duplicate_message(&mut self) -> Vec<Piece> {
        if let Some(last) = self.last_message.clone() {
            return vec![Piece::Frame(vec![last])];
        }
        let m = self.message(|m| messages::comment(m, "echo", "said twice"));
        vec![Piece::Frame(vec![m.clone()]), Piece::Frame(vec![m])]
    }

    /// The previous frame again, byte for byte (after a fresh frame when nothing was sent).
    fn duplicate_frame(&mut self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        if self.last_message.is_none() {
            let m = self.message(|m| messages::comment(m, "echo", "framed twice"));
            pieces.push(Piece::Frame(vec![m]));
        }
        pieces.push(Piece::RepeatLastFrame);
        pieces
    }

    /// A random step in the proportions of `mix`.
    pub(crate) fn random_step(&mut self, mix: &Mix) -> Step {
        let user = NAMES[self.rng.random_range(0..NAMES.len())].to_owned();
        let weights = [
            mix.comment,
            mix.gift,
            mix.like,
            mix.join,
            mix.follow,
            mix.share,
            mix.subscribe,
            mix.viewers,
        ];
        let Some(kind) = self.pick(&weights) else {
            return Step::Join { user };
        };
        match kind {
            0 => Step::Comment {
                user,
                text: COMMENTS[self.rng.random_range(0..COMMENTS.len())].to_owned(),
            },
            1 => Step::Gift {
                user,
                gift: CATALOGUE[self.rng.random_range(0..CATALOGUE.len())]
                    .name
                    .to_owned(),
                count: self.rng.random_range(1..=10),
                interval_ms: 0,
                lose_end: false,
            },
            2 => Step::Like {
                user,
                count: self.rng.random_range(1..=15),
            },
            3 => Step::Join { user },
            4 => Step::Follow { user },
            5 => Step::Share { user },
            6 => Step::Subscribe { user, months: 1 },
            _ => self.viewer_drift(),
        }
    }

    /// An index drawn with the given weights; `None` when they are all zero.
    fn pick(&mut self, weights: &[u32]) -> Option<usize> {
        let total: u32 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut pick = self.rng.random_range(0..total);
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return Some(i);
            }
            pick -= w;
        }
        Some(0)
    }

    /// The viewer count moving a little, never below 1.
    fn viewer_drift(&mut self) -> Step {
        self.viewers += self.rng.random_range(-2..=3);
        self.viewers = self.viewers.max(1);
        Step::Viewers {
            total: i64::from(self.viewers),
            total_user: i64::from(self.viewers) * 10,
        }
    }

    /// The envelope facts of the next message.
    fn meta(&mut self) -> Meta {
        self.next_msg_id += 1;
        Meta {
            msg_id: self.next_msg_id,
            room_id: self.room_id,
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    /// The next message, remembered as the last one sent.
    fn message(&mut self, build: impl FnOnce(Meta) -> WebcastMessage) -> BaseProtoMessage {
        let meta = self.meta();
        let base = build(meta).to_base(meta.msg_id);
        self.last_message = Some(base.clone());
        base
    }

    /// The next message, packed with its neighbours.
    fn msg(&mut self, build: impl FnOnce(Meta) -> WebcastMessage) -> Piece {
        Piece::Message(self.message(build))
    }

    /// A message with a method and payload of our choosing (not remembered as the last one).
    fn raw_message(&mut self, method: &str, payload: &[u8]) -> BaseProtoMessage {
        BaseProtoMessage {
            method: method.into(),
            payload: payload.to_vec(),
            msg_id: self.meta().msg_id,
            ..Default::default()
        }
    }
}

/// A recorded frame, sent as is; a step that is not base64 is skipped.
fn raw_frame(frame_b64: &str) -> Vec<Piece> {
    match base64::engine::general_purpose::STANDARD.decode(frame_b64) {
        Ok(bytes) => vec![Piece::Raw(bytes)],
        Err(error) => {
            tracing::warn!(%error, "frame step is not base64; skipped");
            Vec::new()
        }
    }
}
