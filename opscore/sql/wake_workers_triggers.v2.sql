-- Steps become claimable when their agent is enabled, given room or no longer drained, or a worker switch
-- changes: wake idle workers (missions_step_notify) whoever made the change (admin, CLI, SQL).
DROP TRIGGER IF EXISTS opscore_agent_wakes_workers ON opscore_agent;
DROP TRIGGER IF EXISTS opscore_worker_switches_wake_workers ON opscore_policy;

CREATE TRIGGER opscore_agent_wakes_workers
AFTER UPDATE OF enabled, max_concurrent_steps, draining ON opscore_agent
FOR EACH ROW WHEN (NEW.enabled AND NOT NEW.draining
                   AND (NOT OLD.enabled OR OLD.draining
                        OR NEW.max_concurrent_steps > OLD.max_concurrent_steps))
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER opscore_worker_switches_wake_workers
AFTER INSERT OR UPDATE OF value ON opscore_policy
FOR EACH ROW WHEN (NEW.key = 'worker_switches')
EXECUTE FUNCTION missions_step_notify();
