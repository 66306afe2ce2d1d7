-- A success wakes workers from SQL only when it can free work (opscore_complete_step);
-- every other exit from running, and every step becoming queued, wakes them here.
-- v5: the update trigger has no WHEN; its function reads the same condition for each row
-- (step_notify_update.v1.sql says why).
DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;

CREATE TRIGGER missions_step_notify_insert
AFTER INSERT ON missions_step
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW EXECUTE FUNCTION missions_step_notify_update();
