import django.core.validators
from django.db import migrations, models

from opscore.sqlfiles import install_sql

# What a worker's step costs the database, from a callgrind profile of one backend looping
# claim → complete (instructions a step, of 1.86 M):
# - the step's update trigger has no WHEN: its function reads the same condition row by row
#   (88 k for the WHEN's set-up and call on each of the two updates, 39 k for the firing);
# - the attempt's number loses its CHECK (attempt_no >= 0, 30 k: set up for each statement
#   writing the table); the claim copies it from the step's attempt_count, which
#   step_row_valid keeps whole, and the model validates it;
# - a mission ends in four statements instead of six;
# - opscore_finish_step fills its OUT parameters from the claim in one statement and sends
#   its hints without a query per channel.


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0060_words_refused_digest_idx"),
        ("opscore", "0023_event_notify_sends_its_hint"),
    ]

    operations = [
        install_sql(
            "missions",
            "step_notify_update",
            1,
            drop="DROP FUNCTION IF EXISTS missions_step_notify_update();",
        ),
        install_sql("missions", "step_notify_triggers", 5),
        install_sql("missions", "step_wakes_workers", 2),
        migrations.AlterField(
            model_name="stepattempt",
            name="attempt_no",
            field=models.IntegerField(validators=[django.core.validators.MinValueValidator(0)]),
        ),
        install_sql("missions", "finalize_mission", 4),
        install_sql("missions", "finish_step", 3),
    ]
