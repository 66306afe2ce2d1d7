from django.db import migrations

from opscore.sqlfiles import install_sql

# Wake-up hints through opscore_hint: sent at commit as before, unless the transaction asked to
# send them itself once its commit is durable (the workers' success path): NOTIFY holds a
# cluster-wide lock until its transaction's commit is on disk, so notifying transactions
# commit one at a time.


class Migration(migrations.Migration):
    dependencies = [("opscore", "0019_help_texts_name_no_lane")]

    operations = [
        install_sql("opscore", "hint", 1, drop="DROP FUNCTION IF EXISTS opscore_hint(text);"),
        install_sql("opscore", "event_notify", 2),
    ]
