//! Stores the storage side's string enums as SQL `Text` on every backend (the event
//! vocabulary's own are mapped in the `events` crate). An unknown string read from the
//! database becomes a deserialization error that names the value, never a panic.

use crate::{QueueReason, QueueStatus, ServiceKind, SessionStatus, StreakPolicy};

events::text_sql!(
    QueueReason,
    QueueStatus,
    SessionStatus,
    ServiceKind,
    StreakPolicy
);
