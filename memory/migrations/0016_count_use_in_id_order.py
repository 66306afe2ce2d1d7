"""memory_count_use v2: the memories an LLM call carried are locked in id order before they are
counted, as memory.calibration locks them, so a call's insert and a step's calibration never
deadlock."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0015_scoring_per_candidate"),
    ]

    operations = [install_sql("memory", "count_memory_use", 2)]
