"""memory_retrieve v12: the terms' common lexemes found by one join, not a lookup each; the
terms' arrays gathered without a sort each."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0019_common_terms_share_one_walk'),
    ]

    operations = [
        install_sql("memory", "retrieve_memories", 12),
    ]
