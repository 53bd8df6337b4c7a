//! Fatal errors and their exit codes.

use webcast::room::RoomError;
use webcast::sign::SignError;
use webcast::{AttemptFailure, ClientError};

/// Why the daemon stops with a non-zero exit code. Each message is one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Bad arguments or configuration.
    #[error("{0}")]
    Usage(String),
    /// The streamer is not live.
    #[error("{0}")]
    Offline(String),
    /// No such TikTok user.
    #[error("{0}")]
    NotFound(String),
    /// TikTok blocked the lookup or the connection.
    #[error("{0}")]
    Blocked(String),
    /// The sign server refused the API key or requires a paid plan (401/402).
    #[error("{0}")]
    SignServerAuth(String),
    /// The database is unreachable or not ready at start.
    #[error("{0}")]
    Database(String),
    /// The sign server kept rate-limiting us (429) until we gave up.
    #[error("{0}")]
    RateLimited(String),
    /// Another daemon took the capture over while this one could not renew its lease: the
    /// session goes on there.
    #[error("{0}")]
    LeaseLost(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Fatal {
    /// The process exit code (documented in `--help` and the crate docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Fatal::Other(_) => 1,
            Fatal::Usage(_) => 2,
            Fatal::Offline(_) => 3,
            Fatal::NotFound(_) => 4,
            Fatal::Blocked(_) => 5,
            Fatal::SignServerAuth(_) => 6,
            Fatal::Database(_) => 7,
            Fatal::RateLimited(_) => 8,
            Fatal::LeaseLost(_) => 9,
        }
    }

    /// Classifies a client error. When the client gave up, only its last attempt counts:
    /// a handshake rejection followed by sign-server outages is an outage, not a block.
    pub(crate) fn from_client(error: ClientError) -> Fatal {
        let message = error.to_string();
        let key_hint = |message: String| {
            format!(
                "{message} (set {} for your sign server)",
                webcast::client::API_KEY_ENV
            )
        };
        // Says what the user can do; the daemon itself does not retry any more.
        let rate_hint = |message: String| {
            format!(
                "{message}; start again once the sign server's limit has reset, or set {} (a key raises the limit)",
                webcast::client::API_KEY_ENV
            )
        };
        match error {
            ClientError::NoTarget => Fatal::Usage(message),
            ClientError::Room(room) => match room {
                RoomError::InvalidUsername { .. } => Fatal::Usage(message),
                RoomError::Offline { .. } => Fatal::Offline(message),
                RoomError::NotFound { .. } => Fatal::NotFound(message),
                RoomError::Blocked { .. } | RoomError::AgeRestricted { .. } => {
                    Fatal::Blocked(message)
                }
                RoomError::Http { .. } => Fatal::Other(message),
            },
            ClientError::Sign(sign) => match sign {
                SignError::InvalidApiKey { .. } | SignError::PaymentRequired { .. } => {
                    Fatal::SignServerAuth(key_hint(message))
                }
                SignError::RateLimited { .. } => Fatal::RateLimited(rate_hint(message)),
                SignError::InvalidSession => Fatal::Usage(message),
                SignError::Blocked { status: 403, .. } => Fatal::Blocked(message),
                _ => Fatal::Other(message),
            },
            ClientError::GaveUp { cause, .. } => match cause {
                AttemptFailure::SignServer {
                    status: Some(401 | 402),
                } => Fatal::SignServerAuth(key_hint(message)),
                AttemptFailure::SignServer { status: Some(429) } => {
                    Fatal::RateLimited(rate_hint(message))
                }
                AttemptFailure::SignServer { status: Some(403) } | AttemptFailure::Rejected => {
                    Fatal::Blocked(message)
                }
                AttemptFailure::SignServer { .. } | AttemptFailure::Other => Fatal::Other(message),
            },
            ClientError::SessionNotAllowed(_) => Fatal::Usage(message),
            ClientError::Http(_) => Fatal::Other(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gave_up(last: &str, cause: AttemptFailure) -> ClientError {
        ClientError::GaveUp {
            attempts: 3,
            last: last.into(),
            cause,
        }
    }

    #[test]
    fn client_errors_map_to_distinct_codes() {
        let user = || "someone".to_owned();
        let sign = |status| AttemptFailure::SignServer {
            status: Some(status),
        };
        let cases: Vec<(ClientError, u8)> = vec![
            (
                ClientError::Room(RoomError::Offline { username: user() }),
                3,
            ),
            (
                ClientError::Room(RoomError::NotFound { username: user() }),
                4,
            ),
            (
                ClientError::Room(RoomError::AgeRestricted { username: user() }),
                5,
            ),
            (
                ClientError::Room(RoomError::Blocked {
                    username: user(),
                    detail: "captcha".into(),
                }),
                5,
            ),
            (gave_up("handshake rejected", AttemptFailure::Rejected), 5),
            (gave_up("sign server HTTP 403", sign(403)), 5),
            (
                ClientError::Sign(SignError::InvalidApiKey {
                    message: "bad key".into(),
                }),
                6,
            ),
            (
                ClientError::Sign(SignError::PaymentRequired {
                    message: "premium".into(),
                }),
                6,
            ),
            (
                gave_up("the sign server rate-limited us (HTTP 429): x", sign(429)),
                8,
            ),
            (
                ClientError::Room(RoomError::InvalidUsername {
                    input: "a b".into(),
                }),
                2,
            ),
            (
                gave_up("WebSocket connect failed", AttemptFailure::Other),
                1,
            ),
            // Earlier attempts do not count: the text may mention anything.
            (
                gave_up(
                    "the sign server failed (HTTP 500): was HTTP 429 before",
                    sign(500),
                ),
                1,
            ),
            (
                gave_up(
                    "sign server request failed",
                    AttemptFailure::SignServer { status: None },
                ),
                1,
            ),
        ];
        for (error, code) in cases {
            let shown = error.to_string();
            assert_eq!(Fatal::from_client(error).exit_code(), code, "{shown}");
        }
    }

    #[test]
    fn rate_limit_give_up_promises_no_retry() {
        let error = gave_up(
            &SignError::RateLimited {
                retry_after: std::time::Duration::from_secs(7),
                message: "Too many connections started".into(),
            }
            .to_string(),
            AttemptFailure::SignServer { status: Some(429) },
        );
        let shown = Fatal::from_client(error).to_string();
        assert!(shown.contains("rate-limited"), "{shown}");
        assert!(!shown.contains("retrying"), "{shown}");
        assert!(shown.contains(webcast::client::API_KEY_ENV), "{shown}");
    }
}
