//! What the simulator observed of its client, for assertions: every fetch, lookup, handshake,
//! heartbeat and ack, and what it sent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Which room lookup endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupEndpoint {
    /// `GET /@{user}/live` (SIGI_STATE).
    LivePage,
    /// `GET /api-live/user/room/?uniqueId=…`.
    ApiLive,
    /// The sign server's `GET /webcast/room_id?uniqueId=…`.
    SignServer,
}

/// One room lookup request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct LookupObservation {
    /// The endpoint.
    pub endpoint: LookupEndpoint,
    /// The handle asked for (without `@`).
    pub username: String,
    /// What a browser would show of itself: the headers and cookies that matter.
    pub request: RequestObservation,
    /// When it arrived.
    pub at: Instant,
}

/// The parts of an HTTP request that tell a browser from a bare client.
#[derive(Debug, Clone, Default)]
pub struct RequestObservation {
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Accept-Language` header.
    pub accept_language: Option<String>,
    /// The `Referer` header.
    pub referer: Option<String>,
}

impl RequestObservation {
    /// Whether it looks like a browser's: language, referer and the data centre cookie.
    pub fn is_browser_like(&self) -> bool {
        self.accept_language.is_some()
            && self.referer.is_some()
            && self
                .cookie
                .as_deref()
                .is_some_and(|c| c.contains("tt-target-idc="))
    }
}

/// One `/webcast/fetch` request as the sign server saw it.
#[derive(Debug, Clone)]
pub struct FetchObservation {
    /// The `room_id` parameter.
    pub room_id: String,
    /// The `client` parameter.
    pub client: String,
    /// The `user_agent` parameter.
    pub user_agent: String,
    /// Whether `x-api-key` matched (always true without a configured key).
    pub api_key_ok: bool,
    /// The `x-cookie-header` (a login sent to the sign server), if any.
    pub session_cookie: Option<String>,
    /// The status answered.
    pub status: u16,
    /// When it arrived (gaps between fetches show the client's waits).
    pub at: Instant,
}

/// One WebSocket handshake as the push server saw it.
#[derive(Debug, Clone)]
pub struct ConnectionObservation {
    /// Query parameters of the URL.
    pub query: BTreeMap<String, String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The URL carried a token from a `/webcast/fetch` not used before (a fresh signing).
    pub fresh_token: bool,
    /// Whether the handshake was rejected (HTTP 200 with a handshake-msg).
    pub rejected: bool,
    /// When it happened.
    pub at: Instant,
}

/// One heartbeat received.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatObservation {
    /// Index into [`Duties::connections`].
    pub connection: usize,
    /// `HeartBeatMessage.room_id`.
    pub room_id: i64,
    /// `send_packet_seq_id`.
    pub seq: u64,
    /// When it arrived.
    pub at: Instant,
}

/// One ack received.
#[derive(Debug, Clone)]
pub struct AckObservation {
    /// Index into [`Duties::connections`].
    pub connection: usize,
    /// The acked frame's log_id.
    pub log_id: i64,
    /// The payload (should be that frame's internal_ext).
    pub internal_ext: String,
    /// Whether (log_id, internal_ext) matches a frame we sent with need_ack.
    pub matched: bool,
}

/// Everything the simulator observed of its client, for assertions.
#[derive(Debug, Clone, Default)]
pub struct Duties {
    /// `/webcast/fetch` calls.
    pub fetches: Vec<FetchObservation>,
    /// Room lookup requests, in arrival order.
    pub lookups: Vec<LookupObservation>,
    /// WebSocket handshakes.
    pub connections: Vec<ConnectionObservation>,
    /// `im_enter_room` frames: (connection, room_id).
    pub enter_rooms: Vec<(usize, i64)>,
    /// Heartbeats.
    pub heartbeats: Vec<HeartbeatObservation>,
    /// Acks.
    pub acks: Vec<AckObservation>,
    /// Frames sent with need_ack: (log_id, internal_ext).
    pub awaiting_ack: Vec<(i64, String)>,
    /// Live checks (`/webcast/room/check_alive/`) asked, and when.
    pub alive_checks: Vec<Instant>,
    /// `msg` frames sent.
    pub frames_sent: usize,
    /// Messages inside them.
    pub messages_sent: usize,
    /// Frames sent a second time byte for byte ([`Fault::DuplicateFrame`](crate::Fault::DuplicateFrame)), counted in
    /// `frames_sent` too.
    pub repeated_frames: usize,
    /// Client frames that were not a push frame or of an unknown type.
    pub unexpected_frames: usize,
}

impl Duties {
    /// Heartbeats of one connection.
    pub fn heartbeats_of(&self, connection: usize) -> Vec<HeartbeatObservation> {
        self.heartbeats
            .iter()
            .filter(|h| h.connection == connection)
            .copied()
            .collect()
    }

    /// Time between consecutive heartbeats of one connection.
    pub fn heartbeat_intervals(&self, connection: usize) -> Vec<Duration> {
        self.heartbeats_of(connection)
            .windows(2)
            .map(|w| w[1].at.duration_since(w[0].at))
            .collect()
    }

    /// Frames sent with need_ack that no matching ack answered yet.
    pub fn unacked(&self) -> Vec<i64> {
        self.awaiting_ack
            .iter()
            .filter(|(log_id, ext)| {
                !self
                    .acks
                    .iter()
                    .any(|a| a.log_id == *log_id && a.internal_ext == *ext)
            })
            .map(|(log_id, _)| *log_id)
            .collect()
    }

    /// A one-line summary (for test failure messages).
    pub fn summary(&self) -> String {
        format!(
            "fetches {}, connections {} ({} accepted), enter-rooms {}, heartbeats {}, acks {} ({} unmatched), frames sent {}, unexpected {}",
            self.fetches.len(),
            self.connections.len(),
            self.accepted_connections(),
            self.enter_rooms.len(),
            self.heartbeats.len(),
            self.acks.len(),
            self.acks.iter().filter(|a| !a.matched).count(),
            self.frames_sent,
            self.unexpected_frames
        )
    }

    /// Number of accepted (not rejected) WebSocket connections.
    pub fn accepted_connections(&self) -> usize {
        self.connections.iter().filter(|c| !c.rejected).count()
    }
}
