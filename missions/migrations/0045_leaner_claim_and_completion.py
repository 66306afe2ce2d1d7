from django.db import migrations

from opscore.sqlfiles import install_sql

# The claim → complete path with fewer statements and no cost that grows with history:
# - the claims join the step's mission by key instead of a NOT EXISTS over paused missions,
#   which was planned as a scan of every mission on each claim (v6: ~0.2 block reads per
#   mission per step); the join also tells whether a claim starts its mission, so the
#   mission is updated only then;
# - a claim leases the step and opens its attempt in one statement, and a success writes its
#   step, attempt and step.succeeded event in one.


class Migration(migrations.Migration):
    dependencies = [("missions", "0044_checker_lookback_indexes")]

    operations = [
        install_sql("missions", "claim_step", 7),
        install_sql("missions", "claim_step_for_agent", 6),
        install_sql("missions", "complete_step", 3),
    ]
