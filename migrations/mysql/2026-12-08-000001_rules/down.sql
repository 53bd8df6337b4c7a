DROP TABLE rule_cooldowns;
ALTER TABLE event_queue DROP COLUMN rule_name;
DELETE FROM service_event_configs WHERE name <> event_type;
CREATE UNIQUE INDEX uq_sec_service_type ON service_event_configs (service_id, event_type);
DROP INDEX uq_sec_service_name ON service_event_configs;
ALTER TABLE service_event_configs
    DROP COLUMN name, DROP COLUMN conditions, DROP COLUMN cooldown_ms,
    DROP COLUMN user_cooldown_ms, DROP COLUMN streak_policy, DROP COLUMN action;
