"""memory_retrieve v9 (issue 32): a candidate's matched terms come in the terms' order, sorted
once per call rather than once per memory, and its hidden flag is one key test."""

from django.db import migrations

from opscore.sqlfiles import read_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0014_terms_found_in_one_statement"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 9),
            read_sql("memory", "retrieve_memories", 8),
        ),
    ]
