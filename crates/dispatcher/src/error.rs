//! What an engine operation can fail with, and the one retry of transient conflicts that every
//! operation shares.

use core_models::{DbError, ModelError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What an [`Engine`](crate::Engine) operation can fail with. A failed operation changed
/// nothing: each is one transaction (a prune, one per batch), rolled back whole.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed (after the transparent retries of transient conflicts).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The input was refused by the storage side's checks (an unknown service slug, say):
    /// never a database failure, which is [`EngineError::Db`].
    #[error(transparent)]
    Model(ModelError),
    /// A worker or daemon id that cannot be stored (`locked_by` / `owner` hold 1 to 128
    /// characters).
    #[error("invalid owner '{0}': use 1 to 128 characters without control characters")]
    InvalidOwner(String),
    /// A pending item a batch chose as overflow victim was claimed by a worker before the
    /// batch could discard it. Transient: the batch is rolled back and decided again, so this
    /// reaches a caller only inside [`EngineError::RetriesExhausted`].
    #[error("an overflow victim was claimed while the batch was applied")]
    VictimTaken,
    /// A lease row appeared and went while it was being taken. Transient, like
    /// [`EngineError::VictimTaken`].
    #[error("{0}")]
    LeaseRace(String),
    /// A transient conflict persisted through every retry.
    #[error("gave up after {attempts} attempts on a transient conflict: {source}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last conflict.
        source: Box<EngineError>,
    },
}

impl EngineError {
    /// True for errors caused by the caller's input rather than by the database (a command
    /// line tool exits with its usage code for these).
    pub fn is_user_error(&self) -> bool {
        match self {
            EngineError::Model(e) => e.is_user_error(),
            EngineError::InvalidOwner(_) => true,
            _ => false,
        }
    }
}

impl From<DieselError> for EngineError {
    fn from(e: DieselError) -> Self {
        EngineError::Db(DbError::Query(e))
    }
}

impl From<ModelError> for EngineError {
    /// A database failure stays a database failure (so its conflicts are retried like the
    /// engine's own); only refused input becomes [`EngineError::Model`].
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Db(db) => EngineError::Db(db),
            other => EngineError::Model(other),
        }
    }
}

/// True for errors after which running the same transaction again can succeed: lock
/// conflicts (MySQL/MariaDB deadlocks and lock-wait timeouts, which roll the transaction back
/// or fail its statement), a unique violation (only dispatch inserts under a unique key: a
/// concurrent dispatcher stored the same message first, and the retry sees its row and skips
/// the duplicate), and a victim claimed meanwhile.
pub(crate) fn is_transient(e: &EngineError) -> bool {
    match e {
        EngineError::VictimTaken | EngineError::LeaseRace(_) => true,
        EngineError::Db(DbError::Query(d)) => {
            core_models::db::is_lock_conflict(d)
                || matches!(
                    d,
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
                )
        }
        _ => false,
    }
}

/// Runs `f` (one whole transaction) until it succeeds, fails with an error that is not
/// [transient](is_transient), or
/// [`MAX_TRANSACTION_ATTEMPTS`](core_models::db::MAX_TRANSACTION_ATTEMPTS) run out: core-models' one retry loop
/// ([`core_models::db::retry_transient`]), with the engine's wider idea of transient.
pub(crate) fn retry<T>(f: impl FnMut() -> Result<T, EngineError>) -> Result<T, EngineError> {
    core_models::db::retry_transient(is_transient, f).map_err(|failure| {
        if is_transient(&failure.error) {
            EngineError::RetriesExhausted {
                attempts: failure.attempts,
                source: Box::new(failure.error),
            }
        } else {
            failure.error
        }
    })
}

/// Checks a worker/daemon id before it is stored in `locked_by` or `service_leases.owner`.
pub(crate) fn check_owner(owner: &str) -> Result<&str, EngineError> {
    let n = owner.chars().count();
    if n == 0 || n > 128 || owner.chars().any(char::is_control) {
        return Err(EngineError::InvalidOwner(owner.chars().take(140).collect()));
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_models::db::MAX_TRANSACTION_ATTEMPTS as MAX_ATTEMPTS;

    fn db(kind: DatabaseErrorKind, msg: &str) -> EngineError {
        EngineError::from(DieselError::DatabaseError(kind, Box::new(msg.to_owned())))
    }

    #[test]
    fn deadlocks_lock_waits_duplicate_races_and_taken_victims_are_transient() {
        use DatabaseErrorKind::*;
        let deadlock = "Deadlock found when trying to get lock; try restarting transaction";
        let wait = "Lock wait timeout exceeded; try restarting transaction";
        assert!(is_transient(&db(Unknown, deadlock)));
        assert!(is_transient(&db(Unknown, wait)));
        assert!(is_transient(&db(UniqueViolation, "Duplicate entry")));
        assert!(!is_transient(&db(ForeignKeyViolation, "fk")));
        assert!(!is_transient(&db(Unknown, "Table 'x' doesn't exist")));
        assert!(!is_transient(&EngineError::from(DieselError::NotFound)));
        assert!(!is_transient(&EngineError::InvalidOwner("x".into())));
        assert!(is_transient(&EngineError::VictimTaken));
    }

    #[test]
    fn model_errors_keep_database_failures_apart_from_refused_input() {
        let db_failure = EngineError::from(ModelError::from(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("Deadlock found".to_owned()),
        )));
        assert!(
            is_transient(&db_failure),
            "a conflict inside a core-models call"
        );
        assert!(!db_failure.is_user_error());
        let unknown = EngineError::from(ModelError::NotFound("unknown service 'x'".into()));
        assert!(unknown.is_user_error());
        assert_eq!(unknown.to_string(), "unknown service 'x'");
    }

    #[test]
    fn retries_then_gives_up() {
        let mut calls = 0;
        let r: Result<(), _> = retry(|| {
            calls += 1;
            Err(db(DatabaseErrorKind::Unknown, "Deadlock found"))
        });
        assert!(
            matches!(r, Err(EngineError::RetriesExhausted { attempts, .. }) if attempts == MAX_ATTEMPTS)
        );
        assert_eq!(calls, MAX_ATTEMPTS);
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 4 {
                Err(db(DatabaseErrorKind::Unknown, "Lock wait timeout exceeded"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 4);
        // Anything else is returned at once.
        let mut calls = 0;
        let r: Result<(), _> = retry(|| {
            calls += 1;
            Err(EngineError::from(DieselError::NotFound))
        });
        assert!(matches!(
            r,
            Err(EngineError::Db(DbError::Query(DieselError::NotFound)))
        ));
        assert_eq!(calls, 1);
    }

    #[test]
    fn owners_are_checked() {
        assert!(check_owner("host:123:abc").is_ok());
        assert!(check_owner("").is_err());
        assert!(check_owner(&"x".repeat(129)).is_err());
        assert!(check_owner("a\nb").is_err());
    }
}
