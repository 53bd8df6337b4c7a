-- One capture per streamer across any number of capture daemons and machines: the holder
-- renews its lease by heartbeat; a standby takes over once it expires and continues the
-- holder's session (`session_id`). A waiting standby marks itself in `standby`, so a holder
-- stopped on request knows it can hand over at once instead of closing the session.
CREATE TABLE capture_leases (
    streamer_unique_id TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    session_id BIGINT NULL,
    expires_at TIMESTAMP NOT NULL,
    standby TEXT NULL,
    standby_seen_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
