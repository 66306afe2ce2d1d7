from django.db import migrations

from opscore.sqlfiles import install_sql

# Also wake workers when a step stops running for any reason: its agent has room again.


class Migration(migrations.Migration):
    dependencies = [("missions", "0005_execution_functions")]

    operations = [
        install_sql("missions", "step_notify_triggers", 2),
    ]
