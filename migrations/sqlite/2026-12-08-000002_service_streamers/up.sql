-- Which streamers a service serves, when several are captured into one database: a service
-- with no row here serves every streamer (as before scopes existed). Handles are stored
-- normalised, as the capture records them on its sessions.
CREATE TABLE service_streamers (
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    streamer_unique_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (service_id, streamer_unique_id)
);
