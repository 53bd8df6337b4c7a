-- Why an item ended without being processed (or failed without a service error): `overflow`,
-- and whatever the engine records later (`cooldown`, `cleared`, `skipped`, `deleted`, …).
-- NULL for items that are pending, processing, completed, or failed by their service.
ALTER TABLE event_queue ADD COLUMN reason TEXT NULL;
