ALTER TABLE live_sessions DROP COLUMN is_test;
ALTER TABLE services DROP COLUMN is_paused;
