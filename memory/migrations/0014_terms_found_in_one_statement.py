"""memory_retrieve v8 (issue 32): a store with statistics finds every term's candidates in one
statement rather than three per term; a term no memory holds is left out of the scoring, and a
term's tf is computed once per memory."""

from django.db import migrations

from opscore.sqlfiles import read_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0013_common_terms_kept_in_the_database"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("memory", "retrieve_memories", 8),
            read_sql("memory", "retrieve_memories", 7),
        ),
    ]
