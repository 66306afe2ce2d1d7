from django.db import migrations

from opscore.sqlfiles import install_sql

# A success closes its mission through opscore_end_mission, without the check its own statement
# has just made (no step of the mission waits), and a claim reads a kind's two switches with one
# lookup of the policy rows: ~23 k of a step's 1.65 M instructions (callgrind).


class Migration(migrations.Migration):
    dependencies = [("missions", "0063_attempts_name_their_step_unchecked")]

    operations = [
        install_sql(
            "missions",
            "end_mission",
            1,
            drop="DROP FUNCTION IF EXISTS opscore_end_mission(bigint);",
        ),
        install_sql("missions", "finalize_mission", 5),
        install_sql("missions", "complete_step", 5),
        install_sql("missions", "claim_step", 11),
        install_sql("missions", "claim_step_for_agent", 9),
    ]
