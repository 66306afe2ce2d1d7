import django.core.validators
from django.db import migrations, models

# The step's five number checks (three from PositiveIntegerField, priority's range, at least one
# attempt) become one CHECK that says the same: Postgres sets up each CHECK expression of a table
# again for every statement that writes it, and a step's row is written twice a step.


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0047_success_commits_before_its_hints"),
        ("opscore", "0020_hints_after_commit"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="step",
            name="step_priority_range",
        ),
        migrations.RemoveConstraint(
            model_name="step",
            name="step_attempts_positive",
        ),
        migrations.AlterField(
            model_name="step",
            name="attempt_count",
            field=models.IntegerField(
                default=0, validators=[django.core.validators.MinValueValidator(0)]
            ),
        ),
        migrations.AlterField(
            model_name="step",
            name="max_attempts",
            field=models.IntegerField(
                default=3, validators=[django.core.validators.MinValueValidator(1)]
            ),
        ),
        migrations.AlterField(
            model_name="step",
            name="position",
            field=models.IntegerField(
                default=0, validators=[django.core.validators.MinValueValidator(0)]
            ),
        ),
        migrations.AddConstraint(
            model_name="step",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("attempt_count__gte", 0),
                    ("max_attempts__gte", 1),
                    ("position__gte", 0),
                    ("priority__gte", 1),
                    ("priority__lte", 1000),
                ),
                name="step_numbers_in_range",
            ),
        ),
    ]
