from django.db import migrations

# A wake-up hint, sent on commit, when a step may have become claimable: it was queued (created,
# retried, requeued, run_after moved) or it succeeded (its dependents may now be ready). Workers
# treat it as a hint only; the sweeper finds anything a lost notification missed.
NOTIFY = """
CREATE OR REPLACE FUNCTION missions_step_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('opscore_steps', '');  -- one hint per transaction
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

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
"""

REVERSE = """
DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;
DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;
DROP FUNCTION IF EXISTS missions_step_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("missions", "0003_execution")]

    operations = [migrations.RunSQL(NOTIFY, REVERSE)]
