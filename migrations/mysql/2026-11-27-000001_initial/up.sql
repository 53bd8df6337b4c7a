-- Initial schema (MySQL 8.0+ / MariaDB 10.6+). utf8mb4 everywhere so emojis and every script
-- survive; InnoDB for transactions and row locks. Times are UTC, microsecond precision.

CREATE TABLE live_sessions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NULL,
    started_at DATETIME(6) NOT NULL,
    ended_at DATETIME(6) NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'active',
    room_id VARCHAR(64) NOT NULL DEFAULT '',
    streamer_unique_id VARCHAR(255) NOT NULL DEFAULT '',
    total_events BIGINT NOT NULL DEFAULT 0,
    notes TEXT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_live_sessions_streamer_status (streamer_unique_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE live_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    session_id BIGINT NOT NULL,
    event_type VARCHAR(32) NOT NULL,
    `timestamp` DATETIME(6) NOT NULL,
    room_id VARCHAR(64) NOT NULL DEFAULT '',
    streamer_unique_id VARCHAR(255) NOT NULL DEFAULT '',
    user_id VARCHAR(64) NULL,
    user_unique_id VARCHAR(255) NULL,
    user_nickname VARCHAR(255) NULL,
    is_streaking BOOLEAN NOT NULL DEFAULT FALSE,
    streak_id VARCHAR(128) NULL,
    streak_status VARCHAR(16) NULL,
    event_data LONGTEXT NOT NULL,
    msg_id BIGINT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_live_events_session FOREIGN KEY (session_id) REFERENCES live_sessions (id) ON DELETE CASCADE,
    UNIQUE INDEX uq_live_events_room_msg (room_id, msg_id),
    INDEX idx_live_events_room_time (room_id, `timestamp`),
    INDEX idx_live_events_user_streak (user_id, is_streaking, `timestamp`),
    INDEX idx_live_events_type_room (event_type, room_id),
    INDEX idx_live_events_session_time (session_id, `timestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE services (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    slug VARCHAR(100) NOT NULL,
    service_class VARCHAR(64) NOT NULL,
    description TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    max_queue_size INT NOT NULL DEFAULT 100,
    settings TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE INDEX uq_services_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE service_event_configs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    service_id BIGINT NOT NULL,
    event_type VARCHAR(32) NOT NULL,
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    priority INT NOT NULL DEFAULT 5,
    is_async BOOLEAN NOT NULL DEFAULT FALSE,
    is_discardable BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_sec_service FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE,
    UNIQUE INDEX uq_sec_service_type (service_id, event_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE event_queue (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    service_id BIGINT NOT NULL,
    live_event_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    priority INT NOT NULL,
    is_async BOOLEAN NOT NULL,
    is_discardable BOOLEAN NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    locked_by VARCHAR(128) NULL,
    locked_until DATETIME(6) NULL,
    last_error TEXT NULL,
    processed_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_eq_service FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE,
    CONSTRAINT fk_eq_event FOREIGN KEY (live_event_id) REFERENCES live_events (id) ON DELETE CASCADE,
    CONSTRAINT fk_eq_session FOREIGN KEY (session_id) REFERENCES live_sessions (id) ON DELETE CASCADE,
    -- Serves the claim exactly: WHERE service_id = ? AND status = 'pending' ORDER BY priority DESC, id.
    INDEX idx_eq_claim (service_id, status, priority DESC, id),
    -- Serves the rescuer (expired leases) and the pruner (old finished rows).
    INDEX idx_eq_status_locked (status, locked_until),
    INDEX idx_eq_status_updated (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One owner per service across any number of worker daemons; kept apart from `services` so
-- lease heartbeats never touch the row that configuration changes are detected on.
CREATE TABLE service_leases (
    service_id BIGINT NOT NULL PRIMARY KEY,
    owner VARCHAR(128) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_sl_service FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE app_config (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    meta_key VARCHAR(191) NOT NULL,
    meta_value TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE INDEX uq_app_config_key (meta_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
