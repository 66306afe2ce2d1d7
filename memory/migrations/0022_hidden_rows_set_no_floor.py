"""memory_retrieve v13: rows a real model is never served (the offline tag) are left out of the
pool, so they no longer set the relevance floor for the ones it is."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0021_count_use_without_regex"),
    ]

    operations = [install_sql("memory", "retrieve_memories", 13)]
