//! How things end: a run's fatal [`ClientError`], and inside the client how one attempt ended
//! and why an attempt failed.

use std::fmt;

use super::outbox::ReceiverGone;
use crate::room::RoomError;
use crate::sign::SignError;

/// Why [`Client::run`](super::Client::run) failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither a username nor a room id was given.
    #[error("no TikTok username and no room id given: pass a username (or --room-id)")]
    NoTarget,
    /// The room lookup failed.
    #[error(transparent)]
    Room(#[from] RoomError),
    /// The sign server refused in a way retrying cannot fix.
    #[error(transparent)]
    Sign(SignError),
    /// Too many consecutive failures.
    #[error("giving up after {attempts} failed connection attempts; last error: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// What kind of failure the last attempt was (callers classify on this, not on the
        /// text: earlier attempts may have failed differently).
        cause: AttemptFailure,
    },
    /// The login may not go to the configured sign server.
    #[error("{0}")]
    SessionNotAllowed(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(reqwest::Error),
}

/// The kind of a failed connection attempt, as reported in [`ClientError::GaveUp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// The sign server failed; `status` is its HTTP status when it answered one.
    SignServer {
        /// 401, 402, 403, 429, 5xx … (`None`: transport error, empty or unreadable answer).
        status: Option<u16>,
    },
    /// TikTok answered the WebSocket handshake with HTTP 200 (DEVICE_BLOCKED and the like).
    Rejected,
    /// Anything else: the WebSocket could not be opened, or the connection was lost.
    Other,
}

/// How one attempt (a signed fetch and the connection it leads to) ended.
#[derive(Debug)]
pub(super) enum AttemptEnd {
    /// The LIVE ended.
    StreamEnded,
    /// Nobody listens to the client any more.
    ReceiverGone,
    /// Was connected, then lost it.
    Closed(String),
    /// Never got connected.
    Failed(AttemptError),
}

impl AttemptEnd {
    /// A lost connection.
    pub(super) fn closed(reason: impl Into<String>) -> AttemptEnd {
        AttemptEnd::Closed(reason.into())
    }
}

impl From<ReceiverGone> for AttemptEnd {
    fn from(_: ReceiverGone) -> Self {
        AttemptEnd::ReceiverGone
    }
}

impl From<AttemptError> for AttemptEnd {
    fn from(error: AttemptError) -> Self {
        AttemptEnd::Failed(error)
    }
}

/// Why an attempt did not get connected.
#[derive(Debug)]
pub(super) enum AttemptError {
    /// The signed fetch failed.
    Sign(SignError),
    /// TikTok refused the WebSocket handshake (HTTP 200 with its reasons in headers).
    Rejected {
        /// `handshake-status`, e.g. 415.
        status: String,
        /// `handshake-msg`, e.g. `DEVICE_BLOCKED`.
        message: String,
    },
    /// The WebSocket could not be opened.
    Other(String),
}

impl AttemptError {
    /// The kind reported if the client gives up after this attempt.
    pub(super) fn kind(&self) -> AttemptFailure {
        match self {
            Self::Sign(e) => AttemptFailure::SignServer { status: e.status() },
            Self::Rejected { .. } => AttemptFailure::Rejected,
            Self::Other(_) => AttemptFailure::Other,
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sign(e) => write!(f, "{e}"),
            Self::Rejected { status, message } => write!(
                f,
                "WebSocket handshake rejected by TikTok: {status} {message}"
            ),
            Self::Other(s) => f.write_str(s),
        }
    }
}
