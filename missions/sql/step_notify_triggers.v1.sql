-- When a step may have become claimable: it was queued, or it succeeded.
DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;

CREATE TRIGGER missions_step_notify_insert
AFTER INSERT ON missions_step
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN (NEW.status IN ('queued', 'succeeded')
                   AND (OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.run_after IS DISTINCT FROM NEW.run_after))
EXECUTE FUNCTION missions_step_notify();
