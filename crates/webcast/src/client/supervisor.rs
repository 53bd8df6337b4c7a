//! Keeping a room's stream going across connections: one attempt at a time (a fresh signed
//! fetch, its history, a WebSocket), each end judged (stop, give up, or retry after a wait).
//! The mapper lives here, across reconnects, so that history replayed after a reconnect is not
//! emitted twice and open streaks survive a dropped connection.

use std::time::{Duration, Instant};

use lifecycle::{Backoff, Shutdown};

use super::config::ClientConfig;
use super::connection::Connection;
use super::error::{AttemptEnd, AttemptError, AttemptFailure, ClientError};
use super::outbox::Outbox;
use super::report::{ConnectionStatus, StopReason};
use super::{handshake, mapped};
use crate::decode::decode_messages;
use crate::frame;
use crate::mapping::{Mapper, MapperConfig};
use crate::proto::ProtoMessageFetchResult;
use crate::sign::SignClient;

/// The client's state between connections.
pub(super) struct Supervisor<'a> {
    config: &'a ClientConfig,
    /// For the live check of each connection.
    http: reqwest::Client,
    room_id: i64,
    sign: SignClient,
    mapper: Mapper,
    outbox: Outbox,
    /// Counts the failures since the last connection that worked.
    backoff: Backoff,
}

/// What to do after an attempt.
enum Verdict {
    Stop(StopReason),
    RetryAfter(Duration),
}

/// An attempt that failed, as the retry logic sees it.
struct Failure {
    reason: String,
    /// The sign server's own wait (a 429's `RateLimit-Reset`), instead of the backoff's.
    retry_after: Option<Duration>,
    cause: AttemptFailure,
}

impl<'a> Supervisor<'a> {
    pub(super) fn new(
        config: &'a ClientConfig,
        http: &reqwest::Client,
        sign: SignClient,
        room_id: i64,
        outbox: Outbox,
    ) -> Supervisor<'a> {
        let mapper = Mapper::new(MapperConfig {
            streak_timeout: config.streak_timeout,
            ..MapperConfig::default()
        });
        let mut backoff = config.backoff.clone();
        backoff.reset();
        Supervisor {
            config,
            http: http.clone(),
            room_id,
            sign,
            mapper,
            outbox,
            backoff,
        }
    }

    /// Attempts until the stream ends, the receiver goes, a failure is fatal or `shutdown`
    /// fires.
    pub(super) async fn run(mut self, mut shutdown: Shutdown) -> Result<StopReason, ClientError> {
        loop {
            let end = tokio::select! {
                end = self.attempt() => end,
                () = shutdown.wait() => return Ok(self.shut_down().await),
            };
            let delay = match self.judge(end).await? {
                Verdict::Stop(reason) => return Ok(reason),
                Verdict::RetryAfter(delay) => delay,
            };
            if shutdown.sleep(delay).await {
                return Ok(self.shut_down().await);
            }
        }
    }

    /// One attempt: connect, then read the connection until it ends.
    async fn attempt(&mut self) -> AttemptEnd {
        match self.connect().await {
            Ok(connection) => connection.run().await,
            Err(end) => end,
        }
    }

    /// Signs, takes the fetch's history, opens the WebSocket: the connection, or how the
    /// attempt ended before it.
    async fn connect(&mut self) -> Result<Connection<'_>, AttemptEnd> {
        let attempt = self.backoff.failures() + 1;
        self.outbox
            .status(ConnectionStatus::Connecting { attempt })
            .await?;
        let signed = self
            .sign
            .fetch(self.room_id)
            .await
            .map_err(AttemptError::Sign)?;
        self.follow_room(signed.room_id).await?;
        if self.config.process_initial_messages {
            self.take_history(&signed.result).await?;
        }
        let opened = handshake::open(self.config, &signed, self.room_id).await?;
        Connection::start(
            opened,
            self.room_id,
            self.config,
            &self.http,
            &mut self.mapper,
            &self.outbox,
        )
        .await
    }

    /// Takes the room the sign server fetched when it differs from ours (the peers do: the
    /// server resolves a room that moved), and says so.
    async fn follow_room(&mut self, signed_room: Option<i64>) -> Result<(), AttemptEnd> {
        let Some(room_id) = signed_room.filter(|id| *id > 0 && *id != self.room_id) else {
            return Ok(());
        };
        tracing::info!(
            from = self.room_id,
            to = room_id,
            "the sign server fetched another room (X-Room-Id); following it"
        );
        self.room_id = room_id;
        Ok(self
            .outbox
            .status(ConnectionStatus::RoomResolved { room_id })
            .await?)
    }

    /// The recent history a signed fetch carries, mapped and emitted (and handed raw to a
    /// recorder if asked). A fetch made after the LIVE ended carries the end in its history:
    /// there is no stream to connect to, so the attempt stops here as for an end in a frame.
    async fn take_history(&mut self, result: &ProtoMessageFetchResult) -> Result<(), AttemptEnd> {
        if self.config.emit_raw_frames && !result.messages.is_empty() {
            self.outbox.raw_frame(history_frame(result)).await?;
        }
        let mapped = mapped::map(&mut self.mapper, &decode_messages(result), None);
        self.outbox.events(mapped.events).await?;
        if mapped.ended {
            return Err(AttemptEnd::StreamEnded);
        }
        Ok(())
    }

    /// What an attempt's end means: stop, fail for good, or retry.
    async fn judge(&mut self, end: AttemptEnd) -> Result<Verdict, ClientError> {
        let failure = match end {
            AttemptEnd::StreamEnded => {
                let _ = self.outbox.stream_ended().await;
                return Ok(Verdict::Stop(StopReason::StreamEnded));
            }
            AttemptEnd::ReceiverGone => return Ok(Verdict::Stop(StopReason::ReceiverGone)),
            AttemptEnd::Failed(AttemptError::Sign(e)) if e.is_fatal() => {
                return Err(ClientError::Sign(e))
            }
            AttemptEnd::Closed(reason) => {
                // It was connected: the failures before it are forgiven, and losing it counts
                // as the first.
                self.backoff.reset();
                Failure {
                    reason,
                    retry_after: None,
                    cause: AttemptFailure::Other,
                }
            }
            AttemptEnd::Failed(error) => self.failed(error).await,
        };
        self.retry(failure).await
    }

    /// An attempt that never got connected; a rejected handshake is reported as such.
    async fn failed(&self, error: AttemptError) -> Failure {
        if let AttemptError::Rejected { status, message } = &error {
            let status = ConnectionStatus::Rejected {
                status: status.clone(),
                message: message.clone(),
            };
            let _ = self.outbox.status(status).await;
        }
        let retry_after = match &error {
            AttemptError::Sign(e) => e.retry_after(),
            _ => None,
        };
        Failure {
            reason: error.to_string(),
            retry_after,
            cause: error.kind(),
        }
    }

    /// Counts the failure and gives up after `max_attempts` of them; otherwise reports the
    /// disconnection and the wait before the next attempt.
    async fn retry(&mut self, failure: Failure) -> Result<Verdict, ClientError> {
        let backoff = self.backoff.next_delay();
        let failures = self.backoff.failures();
        tracing::warn!(reason = %failure.reason, failures, "webcast connection lost");
        if self.config.max_attempts.is_some_and(|max| failures >= max) {
            return Err(ClientError::GaveUp {
                attempts: failures,
                last: failure.reason,
                cause: failure.cause,
            });
        }
        let delay = failure.retry_after.unwrap_or(backoff);
        let statuses = [
            ConnectionStatus::Disconnected {
                reason: failure.reason,
            },
            ConnectionStatus::Retrying { after: delay },
        ];
        for status in statuses {
            if self.outbox.status(status).await.is_err() {
                return Ok(Verdict::Stop(StopReason::ReceiverGone));
            }
        }
        Ok(Verdict::RetryAfter(delay))
    }

    /// Closes the open streaks (their events still go out if anyone listens) and stops.
    async fn shut_down(mut self) -> StopReason {
        let closing = self.mapper.finish_streaks(Instant::now());
        let _ = self.outbox.events(closing).await;
        StopReason::Shutdown
    }
}

/// The history of a signed fetch came over HTTP, not the socket: recorders get it as a
/// synthetic `msg` frame (log_id 0, no ack) so that a replay sees it too.
fn history_frame(result: &ProtoMessageFetchResult) -> Vec<u8> {
    let history = ProtoMessageFetchResult {
        messages: result.messages.clone(),
        now: result.now,
        ..Default::default()
    };
    frame::msg_frame(0, &history, false)
}
