-- Which streamers a service serves, when several are captured into one database: a service
-- with no row here serves every streamer (as before scopes existed). Handles are stored
-- normalised, as the capture records them on its sessions.
CREATE TABLE service_streamers (
    service_id BIGINT NOT NULL,
    streamer_unique_id VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (service_id, streamer_unique_id),
    CONSTRAINT fk_ss_service FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
