"""memory_retrieve v12: lexemes looked up by key, never by reading memory_common_lexeme whole;
the terms' arrays unsorted, the average length and the best score as windows, a candidate's tf
one subquery over the terms."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0019_common_terms_share_one_walk'),
    ]

    operations = [
        install_sql("memory", "retrieve_memories", 12),
    ]
