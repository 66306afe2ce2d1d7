from django.db import migrations

# Also wake workers when a step stops running for any reason: its agent has room again.
FORWARD = """
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;
CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN ((NEW.status IN ('queued', 'succeeded') OR OLD.status = 'running')
                   AND (OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.run_after IS DISTINCT FROM NEW.run_after))
EXECUTE FUNCTION missions_step_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;
CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN (NEW.status IN ('queued', 'succeeded')
                   AND (OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.run_after IS DISTINCT FROM NEW.run_after))
EXECUTE FUNCTION missions_step_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("missions", "0005_execution_functions")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
