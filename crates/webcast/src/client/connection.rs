//! One open WebSocket, read until it ends: frames are opened, acked, mapped and emitted;
//! heartbeats go out on their own task; a watchdog notices when data stops (heartbeat answers
//! and acks keep a socket open, not a LIVE going), the live check asks TikTok whether the room
//! still runs after a quiet spell, and a clock closes the gift streaks whose end never came.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::alive::AliveCheck;
use super::config::ClientConfig;
use super::error::AttemptEnd;
use super::handshake::{Opened, Socket};
use super::mapped;
use super::outbox::Outbox;
use super::report::{ClientCounters, ConnectionStatus};
use crate::decode::decode_messages;
use crate::frame::{self, PAYLOAD_MSG};
use crate::mapping::Mapper;
use crate::proto::ProtoMessageFetchResult;

/// A connected WebSocket and what keeps it alive; [`Connection::run`] reads it until it ends.
pub(super) struct Connection<'a> {
    inbound: SplitStream<Socket>,
    /// To the writer task: acks (the heartbeat task holds a clone).
    outbound: mpsc::Sender<Vec<u8>>,
    writer: Task<String>,
    heartbeat: Task<()>,
    watchdog: Watchdog,
    alive: AliveCheck,
    streak_clock: tokio::time::Interval,
    emit_raw_frames: bool,
    mapper: &'a mut Mapper,
    outbox: &'a Outbox,
}

impl<'a> Connection<'a> {
    /// Counts the connection, starts its writer, sends enter-room, starts the heartbeats and
    /// reports [`ConnectionStatus::Connected`].
    pub(super) async fn start(
        opened: Opened,
        room_id: i64,
        config: &ClientConfig,
        http: &reqwest::Client,
        mapper: &'a mut Mapper,
        outbox: &'a Outbox,
    ) -> Result<Connection<'a>, AttemptEnd> {
        let counters = outbox.counters();
        let connection = counters.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let heartbeat_every = opened.heartbeat_every;
        tracing::info!(room_id, connection, ?heartbeat_every, "webcast connected");
        let (sink, inbound) = opened.socket.split();
        let (outbound, writer) = spawn_writer(sink);
        if outbound
            .send(frame::enter_room_frame(room_id))
            .await
            .is_err()
        {
            return Err(AttemptEnd::closed("connection closed before enter-room"));
        }
        let heartbeat =
            spawn_heartbeat(outbound.clone(), room_id, heartbeat_every, counters.clone());
        let connected = ConnectionStatus::Connected {
            room_id,
            connection,
        };
        outbox.status(connected).await?;
        Ok(Connection {
            inbound,
            outbound,
            writer,
            heartbeat,
            watchdog: Watchdog::start(config.watchdog_timeout),
            alive: AliveCheck::new(config, http, room_id),
            streak_clock: streak_clock(config.streak_timeout),
            emit_raw_frames: config.emit_raw_frames,
            mapper,
            outbox,
        })
    }

    /// Reads the socket until the connection ends, and says how.
    pub(super) async fn run(mut self) -> AttemptEnd {
        let end = loop {
            let step = tokio::select! {
                next = self.inbound.next() => self.on_message(next).await,
                () = self.watchdog.silence() => Err(self.watchdog.bark()),
                () = self.alive.due() => self.on_quiet_spell().await,
                _ = self.streak_clock.tick() => self.on_streak_clock().await,
                stopped = &mut self.writer.0 => Err(writer_stopped(stopped)),
            };
            if let Err(end) = step {
                break end;
            }
        };
        if let AttemptEnd::StreamEnded = end {
            self.flush().await;
        }
        end
    }

    /// One WebSocket message: a binary frame is handled, a close ends the connection. Pings
    /// are answered by tungstenite, and a missing pong is never fatal (TikTok sends none).
    async fn on_message(
        &mut self,
        next: Option<Result<Message, WsError>>,
    ) -> Result<(), AttemptEnd> {
        let message = match next {
            None => return Err(AttemptEnd::closed("connection closed")),
            Some(Err(e)) => return Err(AttemptEnd::closed(format!("WebSocket error: {e}"))),
            Some(Ok(message)) => message,
        };
        match message {
            Message::Binary(bytes) => self.on_frame(&bytes).await,
            Message::Close(close) => Err(AttemptEnd::closed(close_reason(close))),
            _ => Ok(()),
        }
    }

    /// One binary frame: handed raw to a recorder if asked, opened, acked, then its events
    /// mapped and emitted. A frame that does not open is counted and skipped.
    async fn on_frame(&mut self, bytes: &[u8]) -> Result<(), AttemptEnd> {
        let received_at = chrono::Utc::now();
        ClientCounters::add(&self.outbox.counters().frames, 1);
        if self.emit_raw_frames {
            self.outbox.raw_frame(bytes.to_vec()).await?;
        }
        let Some((log_id, result)) = self.open(bytes) else {
            return Ok(());
        };
        // Data: the LIVE is going. Heartbeat answers and acks keep only the socket going.
        self.watchdog.feed();
        self.alive.data_arrived();
        let acked = self.ack(log_id, &result).await;
        if self.emit(&result, received_at).await? {
            return Err(AttemptEnd::StreamEnded);
        }
        if !acked {
            // The connection died under us, but this frame arrived whole: its events went out
            // above, before reconnecting, or they would be lost.
            return Err(AttemptEnd::closed("connection closed while acking"));
        }
        Ok(())
    }

    /// The log_id and fetch result of a `msg` frame; `None` for other frames, and for frames
    /// that do not open (counted).
    fn open(&self, bytes: &[u8]) -> Option<(i64, ProtoMessageFetchResult)> {
        let bad_frames = &self.outbox.counters().bad_frames;
        let push = match frame::decode_push_frame(bytes) {
            Ok(push) => push,
            Err(error) => {
                ClientCounters::add(bad_frames, 1);
                tracing::debug!(%error, "bad frame skipped");
                return None;
            }
        };
        if push.payload_type != PAYLOAD_MSG {
            return None;
        }
        match frame::decode_fetch_result(&push) {
            Ok(result) => Some((push.log_id, result)),
            Err(error) => {
                ClientCounters::add(bad_frames, 1);
                tracing::debug!(%error, "bad msg frame skipped");
                None
            }
        }
    }

    /// Acks a frame that asks for it; false when the writer is gone.
    async fn ack(&self, log_id: i64, result: &ProtoMessageFetchResult) -> bool {
        if !result.need_ack {
            return true;
        }
        // Python sends "-" for an empty internal_ext; an empty payload is refused.
        let ext = match result.internal_ext.as_str() {
            "" => "-",
            ext => ext,
        };
        if self
            .outbound
            .send(frame::ack_frame(log_id, ext))
            .await
            .is_err()
        {
            return false;
        }
        ClientCounters::add(&self.outbox.counters().acks, 1);
        true
    }

    /// Decodes, maps and emits the events of a frame; true when the stream ended in it.
    async fn emit(
        &mut self,
        result: &ProtoMessageFetchResult,
        received_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, AttemptEnd> {
        let batch = decode_messages(result);
        let skipped = batch.stats.unknown + batch.stats.undecodable;
        if skipped > 0 {
            ClientCounters::add(&self.outbox.counters().skipped_messages, skipped as u64);
        }
        let mapped = mapped::map(self.mapper, &batch, Some(received_at));
        self.outbox.events(mapped.events).await?;
        Ok(mapped.ended)
    }

    /// Closes the streaks whose end message did not come in time.
    async fn on_streak_clock(&mut self) -> Result<(), AttemptEnd> {
        let expired = self.mapper.expire_streaks(Instant::now());
        Ok(self.outbox.events(expired).await?)
    }

    /// No data for a while: asks TikTok whether the room is live. A LIVE that is over ends the
    /// stream here (its open streaks close first), as its control message would have.
    async fn on_quiet_spell(&mut self) -> Result<(), AttemptEnd> {
        if self.alive.ask().await != Some(false) {
            return Ok(());
        }
        tracing::info!("TikTok says the LIVE is over (live check after a quiet spell)");
        let closing = self.mapper.finish_streaks(Instant::now());
        self.outbox.events(closing).await?;
        Err(AttemptEnd::StreamEnded)
    }

    /// The stream ended: the heartbeats stop, and the writer gets a second to send the last ack
    /// before the socket goes.
    async fn flush(self) {
        let Connection {
            heartbeat,
            outbound,
            mut writer,
            ..
        } = self;
        drop(heartbeat);
        drop(outbound);
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer.0).await;
    }
}

/// A task aborted when dropped, so that no heartbeat or writer outlives its connection.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The writer owns the sink; heartbeats and acks go through its channel, so a slow consumer
/// of events never delays a heartbeat. The task's result says why it stopped.
fn spawn_writer(mut sink: SplitSink<Socket, Message>) -> (mpsc::Sender<Vec<u8>>, Task<String>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(e) = sink.send(Message::Binary(bytes.into())).await {
                return format!("WebSocket write failed: {e}");
            }
        }
        "writer stopped".to_owned()
    });
    (tx, Task(task))
}

/// A heartbeat every `every`, the first one `every` after the start, numbered from 1.
fn spawn_heartbeat(
    outbound: mpsc::Sender<Vec<u8>>,
    room_id: i64,
    every: Duration,
    counters: Arc<ClientCounters>,
) -> Task<()> {
    Task(tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for seq in 1u64.. {
            tick.tick().await;
            if outbound
                .send(frame::heartbeat_frame(room_id, seq))
                .await
                .is_err()
            {
                return;
            }
            ClientCounters::add(&counters.heartbeats, 1);
        }
    }))
}

/// Ticks twice per streak timeout, at least every second (and at most every 10 ms), so a
/// streak is closed at most a second (or half a short timeout) late.
fn streak_clock(streak_timeout: Duration) -> tokio::time::Interval {
    let period = (streak_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut clock = tokio::time::interval(period);
    clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
    clock
}

/// Notices a connection whose data stopped. The deadline moves only when a data frame arrives,
/// not when another branch of the select (the streak clock) wakes the loop, nor when a
/// heartbeat answer or an ack does.
struct Watchdog {
    timeout: Duration,
    deadline: tokio::time::Instant,
}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        Watchdog {
            timeout,
            deadline: tokio::time::Instant::now() + timeout,
        }
    }

    /// A data frame arrived.
    fn feed(&mut self) {
        self.deadline = tokio::time::Instant::now() + self.timeout;
    }

    /// Completes when nothing arrived for the timeout.
    fn silence(&self) -> tokio::time::Sleep {
        tokio::time::sleep_until(self.deadline)
    }

    /// The end of a silent connection.
    fn bark(&self) -> AttemptEnd {
        AttemptEnd::closed(format!("no data frame for {:?} (watchdog)", self.timeout))
    }
}

fn close_reason(close: Option<CloseFrame>) -> String {
    close.map_or_else(
        || "closed by server".to_owned(),
        |c| format!("closed by server: {} {}", c.code, c.reason),
    )
}

fn writer_stopped(stopped: Result<String, tokio::task::JoinError>) -> AttemptEnd {
    AttemptEnd::Closed(stopped.unwrap_or_else(|e| format!("writer task failed: {e}")))
}
