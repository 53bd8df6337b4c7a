//! Errors of the repository functions: bad input is told apart from database failure so
//! command-line tools can exit with the right code.

use crate::db::DbError;

/// What a repository function can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The input was rejected (bad value, duplicate, unknown name); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist; nothing was written.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ModelError {
    /// True for errors caused by the caller's input rather than by the database.
    pub fn is_user_error(&self) -> bool {
        matches!(self, ModelError::Invalid(_) | ModelError::NotFound(_))
    }

    /// True for a transient conflict the server rolled back: running the same transaction
    /// again can succeed (see [`is_lock_conflict`](crate::db::is_lock_conflict)).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ModelError::Db(DbError::Query(e)) if crate::db::is_lock_conflict(e))
    }
}

impl From<diesel::result::Error> for ModelError {
    fn from(e: diesel::result::Error) -> Self {
        ModelError::Db(DbError::Query(e))
    }
}

impl From<events::UnknownName> for ModelError {
    fn from(e: events::UnknownName) -> Self {
        ModelError::Invalid(e.to_string())
    }
}

impl From<events::InvalidPriority> for ModelError {
    fn from(e: events::InvalidPriority) -> Self {
        ModelError::Invalid(e.to_string())
    }
}

/// Result of a repository function.
pub type ModelResult<T> = Result<T, ModelError>;
