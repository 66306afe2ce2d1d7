from django.db import migrations

from opscore.sqlfiles import install_sql

# Whether a step may run (kind switched on, lane not holding it, dependencies done) is written
# once (missions/sql/parts/step_may_run.v1.sql) and included by both claims; the SQL they run is
# unchanged.


class Migration(migrations.Migration):
    dependencies = [("missions", "0045_leaner_claim_and_completion")]

    operations = [
        install_sql("missions", "claim_step", 8),
        install_sql("missions", "claim_step_for_agent", 7),
    ]
