-- One capture per streamer across any number of capture daemons and machines: the holder
-- renews its lease by heartbeat; a standby takes over once it expires and continues the
-- holder's session (`session_id`). A waiting standby marks itself in `standby`, so a holder
-- stopped on request knows it can hand over at once instead of closing the session.
CREATE TABLE capture_leases (
    streamer_unique_id VARCHAR(191) NOT NULL PRIMARY KEY,
    owner VARCHAR(128) NOT NULL,
    session_id BIGINT NULL,
    expires_at DATETIME(6) NOT NULL,
    standby VARCHAR(128) NULL,
    standby_seen_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
