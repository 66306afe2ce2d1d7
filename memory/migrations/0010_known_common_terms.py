"""memory_retrieve v4 (issue 32): a term among the search column's most common lexemes (what
ANALYZE found, passed by the caller) takes its document frequency from them, so a common term
costs its newest matches, not a thousand-row count, on every prompt."""

from django.db import migrations

from opscore.sqlfiles import read_sql

V4 = "memory_retrieve(text, text[], integer, integer, integer, text[], real[])"


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0009_exact_word_matches"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 4),
            f"DROP FUNCTION IF EXISTS {V4};" + read_sql("memory", "retrieve_memories", 3),
        ),
    ]
