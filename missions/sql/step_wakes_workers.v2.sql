-- Retired: the update trigger's condition is read by its function, missions_step_notify_update
-- (step_notify_update.v1.sql), and the trigger has no WHEN calling this any more.
DROP FUNCTION IF EXISTS missions_step_wakes_workers(text, text, timestamptz, timestamptz);
