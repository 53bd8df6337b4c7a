//! Turns steps into frames and delivers them to whichever client connection is current.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};

use crate::messages::{self, gift_by_name, Meta, CATALOGUE};
use crate::scenario::{Fault, RandomStream, Step};
use crate::{Outbound, Shared};
use webcast::frame;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

/// One unit of what a step expands to.
#[derive(Debug)]
enum Piece {
    /// A message, packed with its neighbours into one frame.
    Message(BaseProtoMessage),
    /// A frame of its own (faults that need frame boundaries).
    Frame(Vec<BaseProtoMessage>),
    /// Raw bytes sent as one WebSocket message.
    Raw(Vec<u8>),
    /// The last `msg` frame sent, again, byte for byte.
    RepeatLastFrame,
    Pause(Duration),
    Drop,
    End,
}

/// Expands steps into pieces, keeping ids and counters consistent across the stream.
struct Script {
    room_id: i64,
    next_msg_id: i64,
    next_group_id: i64,
    total_likes: i64,
    followers: i64,
    shares: i64,
    viewers: i32,
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

impl Script {
    fn new(room_id: i64, seed: Option<u64>) -> Self {
        Self {
            room_id,
            next_msg_id: 7_400_000_000_000_000_000,
            next_group_id: 1_700_000_000_000,
            total_likes: 0,
            followers: 1000,
            shares: 0,
            viewers: 10,
            last_message: None,
            rng: seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64),
        }
    }

    fn meta(&mut self) -> Meta {
        self.next_msg_id += 1;
        Meta {
            msg_id: self.next_msg_id,
            room_id: self.room_id,
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    fn base(&mut self, message: &webcast::decode::WebcastMessage, msg_id: i64) -> BaseProtoMessage {
        let base = message.to_base(msg_id);
        self.last_message = Some(base.clone());
        base
    }

    fn msg(&mut self, build: impl FnOnce(Meta) -> webcast::decode::WebcastMessage) -> Piece {
        let meta = self.meta();
        let message = build(meta);
        Piece::Message(self.base(&message, meta.msg_id))
    }

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
        let steps: Vec<(i32, bool)> = counts
            .iter()
            .map(|c| (*c, false))
            .chain(end.map(|c| (c, true)))
            .collect();
        let mut pieces = Vec::new();
        for (i, (count, is_end)) in steps.into_iter().enumerate() {
            if i > 0 && !interval.is_zero() {
                pieces.push(Piece::Pause(interval));
            }
            let piece = self.msg(|m| messages::gift(m, user, &info, count, is_end, group));
            match piece {
                Piece::Message(m) if own_frames => pieces.push(Piece::Frame(vec![m])),
                other => pieces.push(other),
            }
        }
        pieces
    }

    fn expand(&mut self, step: &Step) -> Vec<Piece> {
        match step {
            Step::Comment { user, text } => vec![self.msg(|m| messages::comment(m, user, text))],
            Step::Gift {
                user,
                gift,
                count,
                interval_ms,
                lose_end,
            } => {
                let info = gift_by_name(gift);
                if info.gift_type != 1 {
                    // Non-streakable gifts come once per tap, never with a closing message.
                    return (0..(*count).max(1))
                        .map(|_| self.msg(|m| messages::gift(m, user, &info, 1, false, 0)))
                        .collect();
                }
                let count = (*count).max(1);
                let counts: Vec<i32> = (1..=count).collect();
                let end = (!lose_end).then_some(count);
                self.streak(
                    user,
                    gift,
                    &counts,
                    end,
                    Duration::from_millis(*interval_ms),
                    false,
                )
            }
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
            Step::Pause { ms } => vec![Piece::Pause(Duration::from_millis(*ms))],
            Step::End
            | Step::Fault {
                fault: Fault::StreamEnd,
            } => {
                let end = self.msg(|m| messages::control(m, 3));
                vec![end, Piece::End]
            }
            Step::Fault { fault } => self.fault(*fault),
            Step::Frame { frame_b64 } => {
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(frame_b64) {
                    Ok(bytes) => vec![Piece::Raw(bytes)],
                    Err(error) => {
                        tracing::warn!(%error, "frame step is not base64; skipped");
                        Vec::new()
                    }
                }
            }
        }
    }

    fn fault(&mut self, fault: Fault) -> Vec<Piece> {
        match fault {
            Fault::DropConnection => vec![Piece::Drop],
            Fault::GarbageFrame => vec![Piece::Raw(vec![
                0xff, 0xfe, 0x00, 0x13, 0x37, 0x42, 0x0f, 0xff,
            ])],
            Fault::TruncatedPayload => {
                let Piece::Message(comment) =
                    self.msg(|m| messages::comment(m, "truncated", "never seen"))
                else {
                    return Vec::new();
                };
                let result = ProtoMessageFetchResult {
                    messages: vec![comment],
                    ..Default::default()
                };
                let mut bytes = frame::msg_frame(0, &result, true);
                bytes.truncate(bytes.len() - 10);
                vec![Piece::Raw(bytes)]
            }
            Fault::UnknownMethod => {
                let unknown = BaseProtoMessage {
                    method: "WebcastMysteryMessage".into(),
                    payload: vec![0x08, 0x01, 0x12, 0x03, b'a', b'b', b'c'],
                    msg_id: self.meta().msg_id,
                    ..Default::default()
                };
                let ok = self.msg(|m| messages::comment(m, "survivor", "after an unknown method"));
                self.frame_with(unknown, ok)
            }
            Fault::UndecodableMessage => {
                let broken = BaseProtoMessage {
                    method: "WebcastGiftMessage".into(),
                    payload: vec![0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01],
                    msg_id: self.meta().msg_id,
                    ..Default::default()
                };
                let ok = self.msg(|m| messages::comment(m, "survivor", "after a broken gift"));
                self.frame_with(broken, ok)
            }
            Fault::DuplicateMsgId => match self.last_message.clone() {
                Some(last) => vec![Piece::Frame(vec![last])],
                None => {
                    let Piece::Message(m) =
                        self.msg(|m| messages::comment(m, "echo", "said twice"))
                    else {
                        return Vec::new();
                    };
                    vec![Piece::Frame(vec![m.clone()]), Piece::Frame(vec![m])]
                }
            },
            Fault::DuplicateFrame => {
                let mut pieces = Vec::new();
                if self.last_message.is_none() {
                    // Nothing sent yet: send a frame to repeat first.
                    if let Piece::Message(m) =
                        self.msg(|m| messages::comment(m, "echo", "framed twice"))
                    {
                        pieces.push(Piece::Frame(vec![m]));
                    }
                }
                pieces.push(Piece::RepeatLastFrame);
                pieces
            }
            Fault::OutOfOrderStreak => self.streak(
                "shuffler",
                "Rose",
                &[1, 3, 2, 5, 4],
                Some(5),
                Duration::ZERO,
                true,
            ),
            Fault::LostRepeatEnd => {
                self.streak("quitter", "Rose", &[1, 2, 3], None, Duration::ZERO, true)
            }
            Fault::StreamEnd => self.expand(&Step::End),
        }
    }

    fn frame_with(&self, bad: BaseProtoMessage, ok: Piece) -> Vec<Piece> {
        match ok {
            Piece::Message(ok) => vec![Piece::Frame(vec![bad, ok])],
            _ => Vec::new(),
        }
    }

    fn random_step(&mut self, stream: &RandomStream) -> Step {
        let mix = stream.mix;
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
        let total: u32 = weights.iter().sum();
        let user = NAMES[self.rng.random_range(0..NAMES.len())].to_owned();
        if total == 0 {
            return Step::Join { user };
        }
        let mut pick = self.rng.random_range(0..total);
        let mut kind = 0;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                kind = i;
                break;
            }
            pick -= w;
        }
        match kind {
            0 => Step::Comment {
                user,
                text: COMMENTS[self.rng.random_range(0..COMMENTS.len())].to_owned(),
            },
            1 => {
                let gift = CATALOGUE[self.rng.random_range(0..CATALOGUE.len())]
                    .name
                    .to_owned();
                Step::Gift {
                    user,
                    gift,
                    count: self.rng.random_range(1..=10),
                    interval_ms: 0,
                    lose_end: false,
                }
            }
            2 => Step::Like {
                user,
                count: self.rng.random_range(1..=15),
            },
            3 => Step::Join { user },
            4 => Step::Follow { user },
            5 => Step::Share { user },
            6 => Step::Subscribe { user, months: 1 },
            _ => {
                self.viewers += self.rng.random_range(-2..=3);
                self.viewers = self.viewers.max(1);
                Step::Viewers {
                    total: i64::from(self.viewers),
                    total_user: i64::from(self.viewers) * 10,
                }
            }
        }
    }
}

/// The player task: takes steps from the handle (or makes random ones), packs messages into
/// frames and delivers them.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut steps: mpsc::UnboundedReceiver<Step>,
    random: Option<RandomStream>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut script = Script::new(shared.room_id, random.and_then(|r| r.seed));
    let mut pending: Vec<BaseProtoMessage> = Vec::new();
    let max_per_frame = shared.config.max_messages_per_frame.max(1);
    let mut pace = random.map(|r| Pace::new(r.rate_per_sec));
    // Random steps due now and not played yet: they share frames (up to max_per_frame).
    let mut due: u64 = 0;
    loop {
        // Steps from the queue are counted until played; random ones are not.
        let (step, queued) = match steps.try_recv() {
            Ok(step) => (step, true),
            Err(_) if due > 0 => match &random {
                Some(r) => (script.random_step(r), false),
                None => continue,
            },
            Err(_) => {
                if !flush(&shared, &mut pending, &mut shutdown).await {
                    return;
                }
                let wake = pace.as_ref().map(Pace::next_tick);
                tokio::select! {
                    step = steps.recv() => match step {
                        Some(step) => (step, true),
                        None => return,
                    },
                    () = sleep_until_or_forever(wake) => {
                        if let Some(p) = pace.as_mut() {
                            due = p.due();
                        }
                        continue;
                    }
                    _ = shutdown.changed() => return,
                }
            }
        };
        let mut messages: u64 = 0;
        for piece in script.expand(&step) {
            messages += match &piece {
                Piece::Message(_) => 1,
                Piece::Frame(m) => m.len() as u64,
                _ => 0,
            };
            let ok = match piece {
                Piece::Message(m) => {
                    pending.push(m);
                    if pending.len() >= max_per_frame {
                        flush(&shared, &mut pending, &mut shutdown).await
                    } else {
                        true
                    }
                }
                Piece::Frame(messages) => {
                    flush(&shared, &mut pending, &mut shutdown).await
                        && send_frame(&shared, messages, &mut shutdown).await
                }
                Piece::Raw(bytes) => {
                    flush(&shared, &mut pending, &mut shutdown).await
                        && deliver(&shared, Outbound::Frame(bytes), &mut shutdown).await
                }
                Piece::RepeatLastFrame => {
                    // Flush first, so the repeated frame holds the messages just before.
                    flush(&shared, &mut pending, &mut shutdown).await
                        && repeat_last_frame(&shared, &mut shutdown).await
                }
                Piece::Pause(d) => {
                    if !flush(&shared, &mut pending, &mut shutdown).await {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(d) => true,
                        _ = shutdown.changed() => false,
                    }
                }
                Piece::Drop => {
                    flush(&shared, &mut pending, &mut shutdown).await
                        && deliver(&shared, Outbound::Drop, &mut shutdown).await
                }
                Piece::End => {
                    if flush(&shared, &mut pending, &mut shutdown).await {
                        shared.lock_control().live = false;
                        deliver(&shared, Outbound::Close, &mut shutdown).await
                    } else {
                        false
                    }
                }
            };
            if !ok {
                return;
            }
        }
        if !queued {
            // The random rate is in messages: a gift streak spends several, and what it
            // overspends is owed to the next tick.
            due = due.saturating_sub(messages.max(1));
            if let Some(p) = pace.as_mut() {
                p.record_played(messages.max(1));
            }
        }
        // Messages still pending are part of this step: hand them over before counting it
        // played, unless more queued steps follow immediately (they share the frame).
        if queued {
            if steps.is_empty() && !flush(&shared, &mut pending, &mut shutdown).await {
                return;
            }
            shared.queued_steps.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

async fn sleep_until_or_forever(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The random stream's clock: messages are due at `rate` per second since the start, counted
/// against the clock rather than slept one by one (a sleep per message at 1,000/s would fall
/// behind on timer granularity and send one message per frame). The player wakes at most
/// every [`Pace::MIN_TICK`] and plays everything due, so a fast stream arrives as frames of
/// several messages, as TikTok sends it, and a slow one message by message, on time.
struct Pace {
    rate: f64,
    start: tokio::time::Instant,
    played: u64,
}

impl Pace {
    /// Shortest pause between two wake-ups.
    const MIN_TICK: Duration = Duration::from_millis(10);

    fn new(rate: f64) -> Pace {
        let rate = rate.max(0.001);
        Pace {
            rate,
            start: tokio::time::Instant::now(),
            played: 0,
        }
    }

    /// When the next message is due, but not sooner than a tick from now.
    fn next_tick(&self) -> tokio::time::Instant {
        let next_step = self.start + Duration::from_secs_f64((self.played + 1) as f64 / self.rate);
        next_step.max(tokio::time::Instant::now() + Self::MIN_TICK)
    }

    /// Messages due now and not played yet.
    fn due(&self) -> u64 {
        let total = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
        total.saturating_sub(self.played)
    }

    /// Counts messages played.
    fn record_played(&mut self, messages: u64) {
        self.played += messages;
    }
}

async fn flush(
    shared: &Shared,
    pending: &mut Vec<BaseProtoMessage>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if pending.is_empty() {
        return true;
    }
    let messages = std::mem::take(pending);
    send_frame(shared, messages, shutdown).await
}

async fn send_frame(
    shared: &Shared,
    messages: Vec<BaseProtoMessage>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let log_id = shared.next_log_id.fetch_add(1, Ordering::Relaxed);
    let internal_ext = format!("internal_ext:sim|log_id:{log_id}");
    let count = messages.len();
    let result = ProtoMessageFetchResult {
        messages,
        cursor: format!("sim-cursor-{log_id}"),
        fetch_interval: 0,
        now: chrono::Utc::now().timestamp_millis(),
        internal_ext: internal_ext.clone(),
        fetch_type: 1,
        heartbeat_duration: 10_000,
        need_ack: shared.config.need_ack,
        ..Default::default()
    };
    let bytes = frame::msg_frame(log_id, &result, shared.config.gzip);
    *shared.lock_last_frame() = Some((bytes.clone(), count));
    {
        let mut duties = shared.lock_duties();
        duties.frames_sent += 1;
        duties.messages_sent += count;
        if shared.config.need_ack {
            duties.awaiting_ack.push((log_id, internal_ext));
        }
    }
    tracing::trace!(log_id, count, len = result.encoded_len(), "simulator frame");
    deliver(shared, Outbound::Frame(bytes), shutdown).await
}

/// Sends the last `msg` frame again, unchanged (its ack is already awaited under the same
/// log_id and internal_ext). Nothing happens when no frame was sent yet.
async fn repeat_last_frame(shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> bool {
    let Some((bytes, count)) = shared.lock_last_frame().clone() else {
        return true;
    };
    {
        let mut duties = shared.lock_duties();
        duties.frames_sent += 1;
        duties.messages_sent += count;
        duties.repeated_frames += 1;
    }
    deliver(shared, Outbound::Frame(bytes), shutdown).await
}

/// Sends `out` to the current connection, waiting for one if there is none (or if the current
/// one just died).
async fn deliver(shared: &Shared, out: Outbound, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        let notified = shared.connected.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let current = shared.lock_current().clone();
        if let Some((id, tx)) = current {
            let closing = matches!(out, Outbound::Drop | Outbound::Close);
            if tx.send(out.clone()).await.is_ok() {
                if closing {
                    // Forget this connection now: a frame queued after the close must wait for
                    // the next connection instead of dying in this one's buffer.
                    let mut slot = shared.lock_current();
                    if slot.as_ref().is_some_and(|(cur, _)| *cur == id) {
                        *slot = None;
                    }
                }
                return true;
            }
            let mut slot = shared.lock_current();
            if slot.as_ref().is_some_and(|(cur, _)| *cur == id) {
                *slot = None;
            }
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            _ = shutdown.changed() => return false,
        }
    }
}
