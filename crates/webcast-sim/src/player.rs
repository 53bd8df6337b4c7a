//! The player: takes steps from the handle (or makes random ones), packs their messages into
//! frames and delivers them to whichever client connection is current.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lifecycle::Shutdown;
use prost::Message;
use tokio::sync::mpsc;
use webcast::frame;
use webcast::proto::{BaseProtoMessage, ProtoMessageFetchResult};

use crate::scenario::{RandomStream, Step};
use crate::script::{Piece, Script};
use crate::state::{Outbound, Shared};

/// The shutdown fired while the player waited: it stops.
struct Stopped;

/// Where a step came from: queued ones are counted until played, random ones against the
/// random stream's rate.
enum Origin {
    Queued,
    Random,
}

/// The player task's state.
pub(crate) struct Player {
    shared: Arc<Shared>,
    steps: mpsc::UnboundedReceiver<Step>,
    script: Script,
    /// Messages waiting to share a frame.
    pending: Vec<BaseProtoMessage>,
    max_per_frame: usize,
    random: Option<(RandomStream, Pace)>,
    /// Random messages due now and not played yet: they share frames (up to max_per_frame).
    due: u64,
    shutdown: Shutdown,
}

impl Player {
    pub(crate) fn new(
        shared: Arc<Shared>,
        steps: mpsc::UnboundedReceiver<Step>,
        shutdown: Shutdown,
    ) -> Player {
        let random = shared.config.random;
        Player {
            script: Script::new(
                shared.room_id(),
                random.and_then(|r| r.seed),
                shared.config.late_end_after,
            ),
            pending: Vec::new(),
            max_per_frame: shared.config.max_messages_per_frame.max(1),
            random: random.map(|r| (r, Pace::new(r.rate_per_sec))),
            due: 0,
            shared,
            steps,
            shutdown,
        }
    }

    /// Plays until the shutdown fires or the handle is gone.
    pub(crate) async fn play(mut self) {
        while let Some((step, origin)) = self.next_step().await {
            if self.play_step(step, origin).await.is_err() {
                return;
            }
        }
    }

    /// The next queued step, else a random one when due. When neither is there, what is
    /// pending goes out and the player waits for a step or the random stream's next tick.
    async fn next_step(&mut self) -> Option<(Step, Origin)> {
        loop {
            if let Ok(step) = self.steps.try_recv() {
                return Some((step, Origin::Queued));
            }
            if self.due > 0 {
                if let Some((stream, _)) = &self.random {
                    let mix = stream.mix;
                    return Some((self.script.random_step(&mix), Origin::Random));
                }
            }
            self.flush().await.ok()?;
            let wake = self.random.as_ref().map(|(_, pace)| pace.next_tick());
            tokio::select! {
                step = self.steps.recv() => return step.map(|s| (s, Origin::Queued)),
                () = sleep_until_or_forever(wake) => self.due = self.pace_due(),
                () = self.shutdown.wait() => return None,
            }
        }
    }

    /// Plays every piece of a step, then counts it played.
    async fn play_step(&mut self, step: Step, origin: Origin) -> Result<(), Stopped> {
        let mut messages: u64 = 0;
        for piece in self.script.expand(&step) {
            messages += piece.messages();
            self.play_piece(piece).await?;
        }
        match origin {
            Origin::Random => {
                // The random rate is in messages: a gift streak spends several, and what it
                // overspends is owed to the next tick.
                self.due = self.due.saturating_sub(messages.max(1));
                if let Some((_, pace)) = &mut self.random {
                    pace.record_played(messages.max(1));
                }
            }
            Origin::Queued => {
                // Messages still pending are part of this step: they go out before it counts
                // as played, unless more queued steps follow at once (they share the frame).
                if self.steps.is_empty() {
                    self.flush().await?;
                }
                self.shared.queued_steps.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// One piece. Everything but a message sends what is pending first, so that frames keep
    /// the order of the steps.
    async fn play_piece(&mut self, piece: Piece) -> Result<(), Stopped> {
        if !matches!(piece, Piece::Message(_)) {
            self.flush().await?;
        }
        match piece {
            Piece::Message(message) => self.pack(message).await,
            Piece::Frame(messages) => self.send_frame(messages).await,
            Piece::Raw(bytes) => self.deliver(Outbound::Frame(bytes)).await,
            Piece::RepeatLastFrame => self.repeat_last_frame().await,
            Piece::Pause(d) => {
                if self.shutdown.sleep(d).await {
                    return Err(Stopped);
                }
                Ok(())
            }
            Piece::Drop => self.deliver(Outbound::Drop).await,
            Piece::End => {
                self.shared.control().live = false;
                self.deliver(Outbound::Close).await
            }
        }
    }

    /// Adds a message to the pending frame, which goes out once full.
    async fn pack(&mut self, message: BaseProtoMessage) -> Result<(), Stopped> {
        self.pending.push(message);
        if self.pending.len() >= self.max_per_frame {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the pending messages as one frame, if there are any.
    async fn flush(&mut self) -> Result<(), Stopped> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let messages = std::mem::take(&mut self.pending);
        self.send_frame(messages).await
    }

    /// Sends `messages` as one `msg` frame, remembered for [`Piece::RepeatLastFrame`] and for
    /// the ack it asks for.
    async fn send_frame(&mut self, messages: Vec<BaseProtoMessage>) -> Result<(), Stopped> {
        let shared = &self.shared;
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
        *shared.last_frame() = Some((bytes.clone(), count));
        {
            let mut duties = shared.duties();
            duties.frames_sent += 1;
            duties.messages_sent += count;
            if shared.config.need_ack {
                duties.awaiting_ack.push((log_id, internal_ext));
            }
        }
        tracing::trace!(log_id, count, len = result.encoded_len(), "simulator frame");
        self.deliver(Outbound::Frame(bytes)).await
    }

    /// Sends the last `msg` frame again, unchanged (its ack is already awaited under the same
    /// log_id and internal_ext). Nothing happens when no frame was sent yet.
    async fn repeat_last_frame(&mut self) -> Result<(), Stopped> {
        let Some((bytes, count)) = self.shared.last_frame().clone() else {
            return Ok(());
        };
        {
            let mut duties = self.shared.duties();
            duties.frames_sent += 1;
            duties.messages_sent += count;
            duties.repeated_frames += 1;
        }
        self.deliver(Outbound::Frame(bytes)).await
    }

    /// Sends `out` to the current connection, waiting for one if there is none (or if the
    /// current one just died).
    async fn deliver(&mut self, out: Outbound) -> Result<(), Stopped> {
        loop {
            let notified = self.shared.connected.notified();
            tokio::pin!(notified);
            // Registered before looking, so a connection made in between is not missed.
            notified.as_mut().enable();
            if let Some((index, tx)) = self.shared.current_connection() {
                let closing = matches!(out, Outbound::Drop | Outbound::Close);
                let sent = tx.send(out.clone()).await.is_ok();
                if closing || !sent {
                    // Forget a closed connection now: a frame queued after the close must
                    // wait for the next connection instead of dying in this one's buffer.
                    self.shared.forget(index);
                }
                if sent {
                    return Ok(());
                }
                continue;
            }
            tokio::select! {
                () = &mut notified => {}
                () = self.shutdown.wait() => return Err(Stopped),
            }
        }
    }

    /// Random messages due now, by the random stream's clock.
    fn pace_due(&self) -> u64 {
        self.random
            .as_ref()
            .map_or(self.due, |(_, pace)| pace.due())
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
