ALTER TABLE event_queue DROP COLUMN reason;
