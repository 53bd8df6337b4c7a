//! What the client reports while it runs: [`ClientEvent`]s over its channel, how it stopped,
//! and counters readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use events::CapturedEvent;

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A connection state change.
    Status(ConnectionStatus),
    /// The events of one frame (or of the initial fetch, or streaks closed by timeout), in
    /// order. Store one batch per transaction.
    Events(Vec<CapturedEvent>),
    /// A raw WebSocket binary frame, when `emit_raw_frames` is on.
    RawFrame(Vec<u8>),
    /// The stream ended (control message); the client stops after this.
    StreamEnded,
}

/// Connection state changes.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionStatus {
    /// The room id is known.
    RoomResolved {
        /// The room.
        room_id: i64,
    },
    /// Signing and opening the WebSocket (attempt counts from 1 for each (re)connect).
    Connecting {
        /// Attempt number since the last successful connection.
        attempt: u32,
    },
    /// The WebSocket is open and enter-room was sent.
    Connected {
        /// The room.
        room_id: i64,
        /// Connection number since start (1 = first).
        connection: u64,
    },
    /// TikTok answered the handshake with HTTP 200 instead of 101.
    Rejected {
        /// `handshake-status`, e.g. 415.
        status: String,
        /// `handshake-msg`, e.g. `DEVICE_BLOCKED`.
        message: String,
    },
    /// The connection (or the attempt) ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Waiting before the next attempt.
    Retrying {
        /// How long.
        after: Duration,
    },
}

/// Why [`Client::run`](super::Client::run) returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The LIVE ended.
    StreamEnded,
    /// The shutdown signal fired.
    Shutdown,
    /// The event receiver was dropped.
    ReceiverGone,
}

/// Counters of what the client has seen, readable while it runs.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// WebSocket binary frames received.
    pub frames: AtomicU64,
    /// Frames that could not be opened (garbage, truncated, bad gzip).
    pub bad_frames: AtomicU64,
    /// Messages skipped inside good frames (unknown method or undecodable).
    pub skipped_messages: AtomicU64,
    /// Events emitted.
    pub events: AtomicU64,
    /// Acks sent.
    pub acks: AtomicU64,
    /// Heartbeats sent.
    pub heartbeats: AtomicU64,
    /// WebSocket connections opened.
    pub connections: AtomicU64,
}

impl ClientCounters {
    /// Counts `n` more.
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
