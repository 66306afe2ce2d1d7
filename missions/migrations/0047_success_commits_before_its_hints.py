from django.db import migrations

from opscore.sqlfiles import install_sql

# A worker's success commits before its wake-up hints are sent (opscore_finish_step), so the
# commits of concurrent workers are no longer queued one by one behind NOTIFY's lock; the
# completion reads whether it frees work and whether its mission may be over in its own
# statement, and a claim counts the agent's running steps in its leasing statement.


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0046_one_step_may_run_definition"),
        ("opscore", "0020_hints_after_commit"),
    ]

    operations = [
        install_sql("missions", "claim_step", 9),
        install_sql("missions", "complete_step", 4),
        install_sql(
            "missions", "finish_step", 1, drop="DROP PROCEDURE IF EXISTS opscore_finish_step;"
        ),
    ]
