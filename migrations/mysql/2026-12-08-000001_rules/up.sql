-- Event configs grow into trigger rules (issue 15). The table keeps its name: a row is a
-- rule, and today's configs are the rules without conditions named after their event type.
-- Several rules per event type: the unique key moves from (service, type) to (service, name).
ALTER TABLE service_event_configs
    ADD COLUMN name VARCHAR(64) NOT NULL DEFAULT '' AFTER service_id,
    -- JSON object of conditions (all must hold); NULL: none.
    ADD COLUMN conditions TEXT NULL AFTER is_discardable,
    ADD COLUMN cooldown_ms BIGINT NULL AFTER conditions,
    ADD COLUMN user_cooldown_ms BIGINT NULL AFTER cooldown_ms,
    -- GiftEvent: 'each' (every combo step) or 'end' (only the combo's end).
    ADD COLUMN streak_policy VARCHAR(8) NOT NULL DEFAULT 'each' AFTER user_cooldown_ms,
    ADD COLUMN action VARCHAR(255) NULL AFTER streak_policy;
UPDATE service_event_configs SET name = event_type;
CREATE UNIQUE INDEX uq_sec_service_name ON service_event_configs (service_id, name);
DROP INDEX uq_sec_service_type ON service_event_configs;

-- The rule whose item this is (its name, copied at enqueue time like its priority).
ALTER TABLE event_queue ADD COLUMN rule_name VARCHAR(64) NULL AFTER reason;

-- When a rule last fired, rule-wide (viewer '') and per viewer (their @handle): the truth
-- for cooldowns across capture restarts and several capture daemons. Written by the queue
-- engine in the transaction that enqueues, under the service's dispatch lock.
CREATE TABLE rule_cooldowns (
    rule_id BIGINT NOT NULL,
    viewer VARCHAR(255) NOT NULL DEFAULT '',
    fired_at DATETIME(6) NOT NULL,
    PRIMARY KEY (rule_id, viewer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
