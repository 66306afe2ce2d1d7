-- A success wakes workers from SQL only when it can free work (opscore_complete_step);
-- every other exit from running, and every step becoming queued, wakes them here.
-- v4: the update trigger's condition is missions_step_wakes_workers (step_wakes_workers.*.sql),
-- the same condition, cheaper to set up for each statement.
DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;

CREATE TRIGGER missions_step_notify_insert
AFTER INSERT ON missions_step
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN (missions_step_wakes_workers(OLD.status, NEW.status, OLD.run_after,
                                               NEW.run_after))
EXECUTE FUNCTION missions_step_notify();
