from django.db import migrations

from opscore.sqlfiles import install_sql



class Migration(migrations.Migration):
    dependencies = [("opscore", "0001_initial")]

    operations = [
        install_sql(
            "opscore",
            "forbid_change",
            1,
            drop="DROP FUNCTION IF EXISTS opscore_forbid_change() CASCADE;",
        ),
        install_sql(
            "opscore",
            "append_only_triggers",
            1,
            drop="DROP TRIGGER IF EXISTS opscore_event_append_only ON opscore_event;"
            "DROP TRIGGER IF EXISTS opscore_policyversion_append_only ON opscore_policyversion;",
        ),
    ]
