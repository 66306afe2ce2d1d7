from django.db import migrations

# More wake-ups: steps also become claimable when their agent is enabled or given room, or when
# their kind's worker switch is turned back on. Triggers calling the wake-up of 0004, so the
# admin, the CLI and plain SQL all wake idle workers instead of leaving it to the sweeper.
FORWARD = """
CREATE TRIGGER opscore_agent_wakes_workers
AFTER UPDATE OF enabled, max_concurrent_steps ON opscore_agent
FOR EACH ROW WHEN (NEW.enabled AND (NOT OLD.enabled
                                    OR NEW.max_concurrent_steps > OLD.max_concurrent_steps))
EXECUTE FUNCTION missions_step_notify();

CREATE TRIGGER opscore_worker_switches_wake_workers
AFTER INSERT OR UPDATE OF value ON opscore_policy
FOR EACH ROW WHEN (NEW.key = 'worker_switches')
EXECUTE FUNCTION missions_step_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS opscore_worker_switches_wake_workers ON opscore_policy;
DROP TRIGGER IF EXISTS opscore_agent_wakes_workers ON opscore_agent;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0019_leaner_hot_path"),
        ("opscore", "0009_event_log_without_foreign_keys"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
