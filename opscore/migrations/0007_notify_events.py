from django.db import migrations

from opscore.sqlfiles import install_sql

# Live delivery across processes: any process that writes events (web, worker, heartbeat, the SQL
# completion functions) wakes the Stage's listeners. One hint per statement, not per row.


class Migration(migrations.Migration):
    dependencies = [("opscore", "0006_order_precondition")]

    operations = [
        install_sql(
            "opscore", "event_notify", 1, drop="DROP FUNCTION IF EXISTS opscore_event_notify();"
        ),
        install_sql(
            "opscore",
            "event_notify_trigger",
            1,
            drop="DROP TRIGGER IF EXISTS opscore_event_notify ON opscore_event;",
        ),
    ]
