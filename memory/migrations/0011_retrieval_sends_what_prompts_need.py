"""memory_retrieve v5 (issue 32): one round trip with only what a prompt needs: each row says
whether it carries the offline tag (no second query for a real model), rows below the relevance
floor stay in the database, and so do the columns no prompt reads."""

from django.db import migrations

from opscore.sqlfiles import read_sql

V5 = "memory_retrieve(text, text[], integer, integer, integer, text[], real[], double precision, text)"


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
