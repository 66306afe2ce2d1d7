from django.db import migrations

from opscore.sqlfiles import install_sql

# The trigger every event insert fires sends its hint itself (the body opscore_hint runs, one
# part included in both) instead of PERFORMing opscore_hint: a second function and a query of
# its own on every event, a worker's success among them.


class Migration(migrations.Migration):
    dependencies = [("opscore", "0022_llm_verbose_names")]

    operations = [
        install_sql("opscore", "hint", 2),
        install_sql("opscore", "event_notify", 3),
    ]
