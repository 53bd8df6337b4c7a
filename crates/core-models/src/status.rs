//! Status vocabularies stored as text, and the service kinds the worker daemon knows.

use events::string_enum;

string_enum! {
    /// Where a queue item stands in its lifecycle.
    #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Text)]
    QueueStatus, "queue status" {
        /// Waiting to be claimed.
        Pending => "pending",
        /// Claimed by a worker holding a lease (`locked_by` / `locked_until`).
        Processing => "processing",
        /// Processed successfully.
        Completed => "completed",
        /// Processing failed (error in `last_error`), or attempts ran out.
        Failed => "failed",
        /// Dropped by the overflow policy; never processed.
        Discarded => "discarded",
    }
}

string_enum! {
    /// Why a queue item ended without being processed, or failed without its service's own
    /// error: every drop is visible and has a cause.
    #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Text)]
    QueueReason, "queue reason" {
        /// The queue was full: a lower-priority discardable item made room, or a new
        /// discardable event found no room (DESIGN §5).
        Overflow => "overflow",
        /// A moderator deleted the comment before it was processed (a CommentDeletedEvent).
        Deleted => "deleted",
        /// Every rule that matched the event was cooling down (`--cooldown`,
        /// `--user-cooldown`): the event was not enqueued.
        Cooldown => "cooldown",
        /// Someone cleared the queue (`ctl queue clear`, the control room) before it was
        /// processed.
        Cleared => "cleared",
        /// Someone skipped it while it ran (the control room's skip): its outcome is ignored.
        Skipped => "skipped",
    }
}

string_enum! {
    /// The state of a capture session.
    #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Text)]
    SessionStatus, "session status" {
        /// A capture daemon is (or was, if it was killed) running it.
        Active => "active",
        /// Ended normally: Ctrl+C, SIGTERM or the stream ended.
        Completed => "completed",
        /// Ended by a fatal error, or found orphaned after a crash.
        Aborted => "aborted",
    }
}

string_enum! {
    /// The kinds of service the worker daemon can run (`services.service_class`).
    #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Text)]
    ServiceKind, "service class" {
        /// The Chrome dino runner browser source (SYNC).
        DinoChrome => "dinochrome",
        /// On-stream alerts and chat browser source (ASYNC).
        Overlays => "overlays",
        /// Logs each event; for testing.
        Dummy => "dummy",
        /// Sleeps per event to simulate slow work; for testing.
        Slow => "slow",
        /// Logs every field of each event; for testing.
        Verbose => "verbose",
        /// Hands each event to a user's program as a JSON line.
        Exec => "exec",
        /// POSTs each event as JSON to a URL.
        Webhook => "webhook",
    }
}
