from django.db import migrations

# Live delivery across processes: any process that writes events (web, worker, heartbeat, the SQL
# completion functions) wakes the Stage's listeners. One hint per statement, not per row.
FORWARD = """
CREATE OR REPLACE FUNCTION opscore_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('opscore_events', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER opscore_event_notify
AFTER INSERT ON opscore_event
FOR EACH STATEMENT EXECUTE FUNCTION opscore_event_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS opscore_event_notify ON opscore_event;
DROP FUNCTION IF EXISTS opscore_event_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("opscore", "0006_order_precondition")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
