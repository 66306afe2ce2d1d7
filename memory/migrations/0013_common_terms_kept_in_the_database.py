"""memory_retrieve v7 (issue 32): a call carries only its query: the common lexemes are kept in
the database (memory_common_lexeme, refreshed from pg_stats by memory_learn_common_lexemes), the
unsearched words' lexemes are an immutable function, and a term's tf is a float."""

from django.db import migrations

from opscore.sqlfiles import read_sql

V7 = "memory_retrieve(text, text[], integer, integer, integer, double precision, text)"


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0012_length_in_query_words"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 7),
            f"DROP FUNCTION IF EXISTS {V7}; DROP FUNCTION IF EXISTS memory_learn_common_lexemes();"
            " DROP FUNCTION IF EXISTS memory_unsearched_lexemes();"
            " DROP TABLE IF EXISTS memory_common_lexeme;"
            + read_sql("memory", "retrieve_memories", 6),
        ),
    ]
