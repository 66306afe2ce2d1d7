"""memory_retrieve v6 (issue 29): a memory's length, for BM25's length normalisation, counts only
the words a query can hold: the function and envelope words retrieval never searches for are
left out of it, as they are out of the query."""

from django.db import migrations

from opscore.sqlfiles import read_sql

V6 = (
    "memory_retrieve(text, text[], integer, integer, integer, text[], real[], double precision,"
    " text, text[])"
)


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0011_retrieval_sends_what_prompts_need"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 6),
            f"DROP FUNCTION IF EXISTS {V6};" + read_sql("memory", "retrieve_memories", 5),
        ),
    ]
