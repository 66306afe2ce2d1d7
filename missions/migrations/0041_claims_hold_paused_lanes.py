from django.db import migrations

from opscore.sqlfiles import read_sql


class Migration(migrations.Migration):
    """A paused lane's step kinds are not claimed, by Opscore's workers or by claim-jobs."""

    dependencies = [("missions", "0040_attempt_timed_out")]

    operations = [
        migrations.RunSQL(
            read_sql("missions", "claim_step", 6), read_sql("missions", "claim_step", 5)
        ),
        migrations.RunSQL(
            read_sql("missions", "claim_step_for_agent", 5),
            read_sql("missions", "claim_step_for_agent", 4),
        ),
    ]
