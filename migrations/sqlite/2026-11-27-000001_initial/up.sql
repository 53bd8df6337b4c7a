-- Initial schema (SQLite 3.35+). Same logical schema as migrations/mysql; times are UTC text
-- ('YYYY-MM-DD HH:MM:SS.ffffff'), which sorts chronologically.

CREATE TABLE live_sessions (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name TEXT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NULL,
    status TEXT NOT NULL DEFAULT 'active',
    room_id TEXT NOT NULL DEFAULT '',
    streamer_unique_id TEXT NOT NULL DEFAULT '',
    total_events BIGINT NOT NULL DEFAULT 0,
    notes TEXT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_live_sessions_streamer_status ON live_sessions (streamer_unique_id, status);

CREATE TABLE live_events (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    session_id BIGINT NOT NULL REFERENCES live_sessions (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    room_id TEXT NOT NULL DEFAULT '',
    streamer_unique_id TEXT NOT NULL DEFAULT '',
    user_id TEXT NULL,
    user_unique_id TEXT NULL,
    user_nickname TEXT NULL,
    is_streaking BOOLEAN NOT NULL DEFAULT 0,
    streak_id TEXT NULL,
    streak_status TEXT NULL,
    event_data TEXT NOT NULL,
    msg_id BIGINT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX uq_live_events_room_msg ON live_events (room_id, msg_id);
CREATE INDEX idx_live_events_room_time ON live_events (room_id, "timestamp");
CREATE INDEX idx_live_events_user_streak ON live_events (user_id, is_streaking, "timestamp");
CREATE INDEX idx_live_events_type_room ON live_events (event_type, room_id);
CREATE INDEX idx_live_events_session_time ON live_events (session_id, "timestamp");

CREATE TABLE services (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    service_class TEXT NOT NULL,
    description TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    max_queue_size INTEGER NOT NULL DEFAULT 100,
    settings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX uq_services_slug ON services (slug);

CREATE TABLE service_event_configs (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    is_enabled BOOLEAN NOT NULL DEFAULT 1,
    priority INTEGER NOT NULL DEFAULT 5,
    is_async BOOLEAN NOT NULL DEFAULT 0,
    is_discardable BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX uq_sec_service_type ON service_event_configs (service_id, event_type);

CREATE TABLE event_queue (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    live_event_id BIGINT NOT NULL REFERENCES live_events (id) ON DELETE CASCADE,
    session_id BIGINT NOT NULL REFERENCES live_sessions (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending',
    priority INTEGER NOT NULL,
    is_async BOOLEAN NOT NULL,
    is_discardable BOOLEAN NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT NULL,
    locked_until TIMESTAMP NULL,
    last_error TEXT NULL,
    processed_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- Serves the claim exactly: WHERE service_id = ? AND status = 'pending' ORDER BY priority DESC, id.
CREATE INDEX idx_eq_claim ON event_queue (service_id, status, priority DESC, id);
CREATE INDEX idx_eq_status_locked ON event_queue (status, locked_until);
CREATE INDEX idx_eq_status_updated ON event_queue (status, updated_at);
CREATE INDEX idx_eq_event ON event_queue (live_event_id);
CREATE INDEX idx_eq_session ON event_queue (session_id);

-- One owner per service across any number of worker daemons; kept apart from `services` so
-- lease heartbeats never touch the row that configuration changes are detected on.
CREATE TABLE service_leases (
    service_id BIGINT NOT NULL PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE app_config (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX uq_app_config_key ON app_config (meta_key);
