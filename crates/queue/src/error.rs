//! Errors of the claim side and the retry of transient lock conflicts.

use core_models::db::RetryError;
use core_models::DbError;
use diesel::result::Error as DieselError;

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

/// True for lock conflicts (deadlocks, lock-wait timeouts), after which the operation can run
/// again.
fn is_transient(e: &QueueError) -> bool {
    matches!(e, QueueError::Db(DbError::Query(d)) if core_models::db::is_lock_conflict(d))
}

/// Runs `f` again after lock conflicts (see [`core_models::db::retry_transient`]).
pub(crate) fn retry<T>(f: impl FnMut() -> Result<T, QueueError>) -> Result<T, QueueError> {
    core_models::db::retry_transient(MAX_ATTEMPTS, is_transient, f).map_err(|e| match e {
        RetryError::Failed(e) => e,
        RetryError::Exhausted { attempts, last } => match last {
            QueueError::Db(source) => QueueError::RetriesExhausted { attempts, source },
            other => other,
        },
    })
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

    use diesel::result::DatabaseErrorKind;

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
