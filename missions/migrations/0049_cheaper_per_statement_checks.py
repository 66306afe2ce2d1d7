from django.db import migrations, models

from opscore.sqlfiles import install_sql

# Postgres sets up a table's CHECK expressions and its row triggers' WHEN conditions again, from
# their stored trees, for every statement that writes the table: twice a step for missions_step
# on the workers' path. The step's three CHECKs become one call of missions_step_row_valid and
# the update trigger's WHEN one call of missions_step_wakes_workers, each the same rule with a
# third of the tree (a profile of a worker's backend put the two set-ups at ~15 % of its CPU).


class Migration(migrations.Migration):
    dependencies = [("missions", "0048_step_numbers_in_one_check")]

    operations = [
        install_sql(
            "missions",
            "step_row_valid",
            1,
            drop="DROP FUNCTION IF EXISTS missions_step_row_valid("
            "text, uuid, timestamptz, text, integer, integer, integer, integer);",
        ),
        migrations.RemoveConstraint(model_name="step", name="step_blocked_has_reason"),
        migrations.RemoveConstraint(model_name="step", name="step_one_active_lease"),
        migrations.RemoveConstraint(model_name="step", name="step_numbers_in_range"),
        migrations.AddConstraint(
            model_name="step",
            constraint=models.CheckConstraint(
                condition=models.Func(
                    "status",
                    "lease_token",
                    "lease_expires_at",
                    "blocked_reason",
                    "position",
                    "attempt_count",
                    "max_attempts",
                    "priority",
                    function="missions_step_row_valid",
                    output_field=models.BooleanField(),
                ),
                name="step_row_valid",
            ),
        ),
        install_sql(
            "missions",
            "step_wakes_workers",
            1,
            drop="DROP FUNCTION IF EXISTS missions_step_wakes_workers("
            "text, text, timestamptz, timestamptz);",
        ),
        install_sql("missions", "step_notify_triggers", 4),
    ]
