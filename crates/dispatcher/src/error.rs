//! Errors of [`dispatch`](crate::dispatch) and the retry of transient lock conflicts.

use core_models::db::RetryError;
use core_models::DbError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What dispatching a batch can fail with. Nothing of the batch is stored when it fails.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The database failed (after the transparent retries of deadlocks and lock waits).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A pending item the batch chose as overflow victim was claimed by a worker before the
    /// batch could discard it; the batch is rolled back and retried (transient).
    #[error("an overflow victim was claimed while the batch was applied")]
    VictimTaken,
    /// A transient conflict persisted through every retry.
    #[error("gave up after {attempts} attempts on a transient conflict: {source}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last conflict.
        source: Box<DispatchError>,
    },
}

impl From<DieselError> for DispatchError {
    fn from(e: DieselError) -> Self {
        DispatchError::Db(DbError::Query(e))
    }
}

/// Attempts of one batch before a transient conflict is reported.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// True for errors after which running the same transaction again can succeed: lock conflicts
/// (MySQL/MariaDB deadlocks and lock-wait timeouts, which roll the transaction back), a unique
/// violation on `live_events` (a concurrent dispatcher stored the same message first; the
/// retry sees its row and skips the duplicate), and a victim claimed meanwhile.
pub(crate) fn is_transient(e: &DispatchError) -> bool {
    match e {
        DispatchError::VictimTaken => true,
        DispatchError::Db(DbError::Query(d)) => {
            core_models::db::is_lock_conflict(d)
                || matches!(
                    d,
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
                )
        }
        _ => false,
    }
}

/// Runs `f` again after transient conflicts (see [`core_models::db::retry_transient`]).
pub(crate) fn retry<T>(f: impl FnMut() -> Result<T, DispatchError>) -> Result<T, DispatchError> {
    core_models::db::retry_transient(MAX_ATTEMPTS, is_transient, f).map_err(|e| match e {
        RetryError::Failed(e) => e,
        RetryError::Exhausted { attempts, last } => DispatchError::RetriesExhausted {
            attempts,
            source: Box::new(last),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: DatabaseErrorKind, msg: &str) -> DispatchError {
        DispatchError::from(DieselError::DatabaseError(kind, Box::new(msg.to_owned())))
    }

    #[test]
    fn deadlocks_lock_waits_and_duplicate_races_are_transient() {
        use DatabaseErrorKind::*;
        let deadlock = "Deadlock found when trying to get lock; try restarting transaction";
        let wait = "Lock wait timeout exceeded; try restarting transaction";
        assert!(is_transient(&db(Unknown, deadlock)));
        assert!(is_transient(&db(Unknown, wait)));
        assert!(is_transient(&db(UniqueViolation, "Duplicate entry")));
        assert!(!is_transient(&db(ForeignKeyViolation, "fk")));
        assert!(!is_transient(&db(Unknown, "Table 'x' doesn't exist")));
        assert!(!is_transient(&DispatchError::from(DieselError::NotFound)));
        assert!(is_transient(&DispatchError::VictimTaken));
    }

    #[test]
    fn retries_then_gives_up() {
        let mut calls = 0;
        let r: Result<(), _> = retry(|| {
            calls += 1;
            Err(db(DatabaseErrorKind::Unknown, "Deadlock found"))
        });
        assert!(
            matches!(r, Err(DispatchError::RetriesExhausted { attempts, .. }) if attempts == MAX_ATTEMPTS)
        );
        assert_eq!(calls, MAX_ATTEMPTS);
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(db(DatabaseErrorKind::Unknown, "Lock wait timeout exceeded"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }
}
