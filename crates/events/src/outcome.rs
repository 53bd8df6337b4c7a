//! How a service's work on one queue item ended.

/// How processing one job ended: what the worker records on the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed successfully: the item becomes `completed`.
    Completed,
    /// Processing failed (an error, a panic or a timeout; the text says which): the item
    /// becomes `failed` with it as `last_error`.
    Failed(String),
}

impl Outcome {
    /// True for [`Outcome::Completed`].
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed)
    }
}
