"""memory_retrieve v5 (issue 32): each row says whether it carries the offline tag, so a prompt
for a real model filters those out without a second query."""

from django.db import migrations

from opscore.sqlfiles import read_sql

V5 = "memory_retrieve(text, text[], integer, integer, integer, text[], real[], text)"


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0010_known_common_terms"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 5),
            f"DROP FUNCTION IF EXISTS {V5};" + read_sql("memory", "retrieve_memories", 4),
        ),
    ]
