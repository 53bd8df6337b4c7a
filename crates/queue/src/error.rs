//! Errors of the claim side and the retry of transient lock conflicts.

use std::time::Duration;

use core_models::DbError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What a queue operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database failed (after the transparent retries of deadlocks and lock waits).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A worker or daemon id that cannot be stored (`locked_by` / `owner` hold 1 to 128
    /// characters).
    #[error("invalid owner '{0}': use 1 to 128 characters without control characters")]
    InvalidOwner(String),
    /// A transient conflict persisted through every retry.
    #[error("gave up after {attempts} attempts on a transient conflict: {source}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last conflict.
        source: DbError,
    },
}

impl From<DieselError> for QueueError {
    fn from(e: DieselError) -> Self {
        QueueError::Db(DbError::Query(e))
    }
}

/// Attempts of one operation before a transient conflict is reported.
const MAX_ATTEMPTS: u32 = 8;

/// True for MySQL/MariaDB deadlocks (1213) and lock-wait timeouts (1205): the server rolled
/// the transaction back, and running it again can succeed.
fn is_transient(e: &QueueError) -> bool {
    let QueueError::Db(DbError::Query(DieselError::DatabaseError(kind, info))) = e else {
        return false;
    };
    if matches!(kind, DatabaseErrorKind::SerializationFailure) {
        return true;
    }
    // The pure-Rust driver reports these as `Unknown` with the server's message only.
    let msg = info.message();
    msg.contains("Deadlock found")
        || msg.contains("Lock wait timeout exceeded")
        || msg.contains("try restarting transaction")
}

/// Runs `f` until it succeeds, fails with a non-transient error, or the attempts run out,
/// sleeping a little longer after each conflict so the competitors drift apart.
pub(crate) fn retry<T>(mut f: impl FnMut() -> Result<T, QueueError>) -> Result<T, QueueError> {
    let mut attempt = 1;
    loop {
        match f() {
            Err(e) if is_transient(&e) => {
                if attempt >= MAX_ATTEMPTS {
                    let source = match e {
                        QueueError::Db(db) | QueueError::RetriesExhausted { source: db, .. } => db,
                        QueueError::InvalidOwner(_) => return Err(e),
                    };
                    return Err(QueueError::RetriesExhausted {
                        attempts: attempt,
                        source,
                    });
                }
                tracing::debug!(attempt, error = %e, "transient conflict, retrying");
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// 2, 4, 8 … ms (capped at 256 ms) plus a jitter from the clock's sub-second part.
fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(7);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % base;
    Duration::from_millis(base + jitter)
}

/// Checks a worker/daemon id before it is stored in `locked_by` or `service_leases.owner`.
pub(crate) fn check_owner(owner: &str) -> Result<&str, QueueError> {
    let n = owner.chars().count();
    if n == 0 || n > 128 || owner.chars().any(char::is_control) {
        return Err(QueueError::InvalidOwner(owner.chars().take(140).collect()));
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: DatabaseErrorKind, msg: &str) -> QueueError {
        QueueError::from(DieselError::DatabaseError(kind, Box::new(msg.to_owned())))
    }

    #[test]
    fn only_deadlocks_and_lock_waits_are_transient() {
        use DatabaseErrorKind::*;
        assert!(is_transient(&db(
            Unknown,
            "Deadlock found when trying to get lock; try restarting transaction"
        )));
        assert!(is_transient(&db(
            Unknown,
            "Lock wait timeout exceeded; try restarting transaction"
        )));
        assert!(!is_transient(&db(UniqueViolation, "Duplicate entry")));
        assert!(!is_transient(&QueueError::InvalidOwner("x".into())));
    }

    #[test]
    fn retries_until_success() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 4 {
                Err(db(DatabaseErrorKind::Unknown, "Deadlock found"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 4);
    }

    #[test]
    fn owners_are_checked() {
        assert!(check_owner("host:123:abc").is_ok());
        assert!(check_owner("").is_err());
        assert!(check_owner(&"x".repeat(129)).is_err());
        assert!(check_owner("a\nb").is_err());
    }
}
