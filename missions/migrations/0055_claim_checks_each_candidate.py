from django.db import migrations

from opscore.sqlfiles import install_sql

# A claim reads the ready steps in order and checks each by looking up its own rows: as joins,
# the planner could gather every unfinished dependency in history, or the whole backlog, once
# per claim (missions/sql/claim_step.v10.sql).


class Migration(migrations.Migration):
    dependencies = [("missions", "0054_worker_stopped_at")]

    operations = [
        install_sql("missions", "claim_step", 10),
        install_sql("missions", "claim_step_for_agent", 8),
    ]
