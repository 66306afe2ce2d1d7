"""memory_retrieve v11: a context's common terms walk the newest memories once, together, and
bring one budget of candidates between them, not one each."""

from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0018_stored_headline_and_length'),
    ]

    operations = [
        install_sql("memory", "retrieve_memories", 11),
    ]
