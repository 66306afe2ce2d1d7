"""memory_count_use v4: the same ids queued, checked without a regular expression."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0020_lexemes_by_key_scores_in_one_pass"),
    ]

    operations = [install_sql("memory", "count_memory_use", 4)]
