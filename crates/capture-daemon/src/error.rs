//! Fatal errors and their exit codes.

use webcast::room::RoomError;
use webcast::sign::SignError;
use webcast::ClientError;

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
    /// The sign server refused the key or rate-limited us.
    #[error("{0}")]
    SignServer(String),
    /// The database is unreachable or not ready at start.
    #[error("{0}")]
    Database(String),
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
            Fatal::SignServer(_) => 6,
            Fatal::Database(_) => 7,
        }
    }

    /// Classifies a client error. `rejected` is true when the last failed attempt was a
    /// WebSocket handshake refused by TikTok (DEVICE_BLOCKED and the like).
    pub fn from_client(error: ClientError, rejected: bool) -> Fatal {
        let message = error.to_string();
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
                SignError::InvalidApiKey { .. }
                | SignError::PaymentRequired { .. }
                | SignError::RateLimited { .. } => Fatal::SignServer(format!(
                    "{message} (set {} for your sign server)",
                    webcast::client::API_KEY_ENV
                )),
                SignError::Blocked { .. } => Fatal::SignServer(message),
                _ => Fatal::Other(message),
            },
            ClientError::GaveUp { ref last, .. } => {
                // The client keeps retrying 429s and handshake rejections; when it gives up,
                // the last failure says which of them it was.
                if last.contains("HTTP 429")
                    || last.contains("HTTP 401")
                    || last.contains("HTTP 402")
                {
                    Fatal::SignServer(message)
                } else if rejected || last.contains("HTTP 403") {
                    Fatal::Blocked(message)
                } else {
                    Fatal::Other(message)
                }
            }
            ClientError::Http(_) => Fatal::Other(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_map_to_distinct_codes() {
        let user = || "someone".to_owned();
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
            (
                ClientError::Sign(SignError::InvalidApiKey {
                    message: "bad key".into(),
                }),
                6,
            ),
            (
                ClientError::GaveUp {
                    attempts: 3,
                    last: "the sign server rate-limited us (HTTP 429): x".into(),
                    cause: webcast::AttemptFailure::SignServer { status: Some(429) },
                },
                6,
            ),
            (
                ClientError::Room(RoomError::InvalidUsername {
                    input: "a b".into(),
                }),
                2,
            ),
            (
                ClientError::GaveUp {
                    attempts: 3,
                    last: "WebSocket connect failed".into(),
                    cause: webcast::AttemptFailure::Other,
                },
                1,
            ),
        ];
        for (error, code) in cases {
            let shown = error.to_string();
            assert_eq!(
                Fatal::from_client(error, false).exit_code(),
                code,
                "{shown}"
            );
        }
        let rejected = ClientError::GaveUp {
            attempts: 3,
            last: "handshake rejected".into(),
            cause: webcast::AttemptFailure::Rejected,
        };
        assert_eq!(Fatal::from_client(rejected, true).exit_code(), 5);
    }
}
