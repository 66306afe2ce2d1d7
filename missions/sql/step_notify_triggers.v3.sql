-- A success wakes workers from SQL only when it can free work (opscore_complete_step);
-- every other exit from running, and every step becoming queued, wakes them here.
DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;

CREATE TRIGGER missions_step_notify_insert
AFTER INSERT ON missions_step
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN ((NEW.status = 'queued'
                    OR (OLD.status = 'running' AND NEW.status NOT IN ('running', 'succeeded')))
                   AND (OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.run_after IS DISTINCT FROM NEW.run_after))
EXECUTE FUNCTION missions_step_notify();
