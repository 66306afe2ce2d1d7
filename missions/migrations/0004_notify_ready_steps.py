from django.db import migrations

from opscore.sqlfiles import install_sql

# A wake-up hint, sent on commit, when a step may have become claimable: it was queued (created,
# retried, requeued, run_after moved) or it succeeded (its dependents may now be ready). Workers
# treat it as a hint only; the sweeper finds anything a lost notification missed.


class Migration(migrations.Migration):
    dependencies = [("missions", "0003_execution")]

    operations = [
        install_sql(
            "missions", "step_notify", 1, drop="DROP FUNCTION IF EXISTS missions_step_notify();"
        ),
        install_sql(
            "missions",
            "step_notify_triggers",
            1,
            drop="DROP TRIGGER IF EXISTS missions_step_notify_insert ON missions_step;"
            "DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;",
        ),
    ]
