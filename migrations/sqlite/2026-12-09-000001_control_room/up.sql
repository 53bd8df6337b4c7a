-- The control room's switches. A paused service keeps receiving events (its overflow policy
-- applies) but no worker claims them until it is resumed; the flag lives here so it survives
-- restarts. A test session holds events sent by `ctl event send` or the control room's test
-- form, so totals across sessions can leave them out.
ALTER TABLE services ADD COLUMN is_paused BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE live_sessions ADD COLUMN is_test BOOLEAN NOT NULL DEFAULT 0;
