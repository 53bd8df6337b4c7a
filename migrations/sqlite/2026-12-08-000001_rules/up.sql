-- Event configs grow into trigger rules (issue 15). The table keeps its name: a row is a
-- rule, and today's configs are the rules without conditions named after their event type.
-- Several rules per event type: the unique key moves from (service, type) to (service, name).
ALTER TABLE service_event_configs ADD COLUMN name TEXT NOT NULL DEFAULT '';
-- JSON object of conditions (all must hold); NULL: none.
ALTER TABLE service_event_configs ADD COLUMN conditions TEXT NULL;
ALTER TABLE service_event_configs ADD COLUMN cooldown_ms BIGINT NULL;
ALTER TABLE service_event_configs ADD COLUMN user_cooldown_ms BIGINT NULL;
-- GiftEvent: 'each' (every combo step) or 'end' (only the combo's end).
ALTER TABLE service_event_configs ADD COLUMN streak_policy TEXT NOT NULL DEFAULT 'each';
ALTER TABLE service_event_configs ADD COLUMN action TEXT NULL;
UPDATE service_event_configs SET name = event_type;
DROP INDEX uq_sec_service_type;
CREATE UNIQUE INDEX uq_sec_service_name ON service_event_configs (service_id, name);

-- The rule whose item this is (its name, copied at enqueue time like its priority).
ALTER TABLE event_queue ADD COLUMN rule_name TEXT NULL;

-- When a rule last fired, rule-wide (viewer '') and per viewer (their @handle): the truth
-- for cooldowns across capture restarts and several capture daemons. Written by the queue
-- engine in the transaction that enqueues.
CREATE TABLE rule_cooldowns (
    rule_id BIGINT NOT NULL,
    viewer TEXT NOT NULL DEFAULT '',
    fired_at TIMESTAMP NOT NULL,
    PRIMARY KEY (rule_id, viewer)
);
