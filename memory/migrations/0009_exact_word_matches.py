"""Exact word matches (issue 29): an unstemmed `exact_words` vector beside `search`, and
memory_retrieve v3 counting a query word found only through its stem as half a match."""

import django.contrib.postgres.search
from django.db import migrations, models

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0008_relevance_first_retrieval'),
    ]

    operations = [
        migrations.AddField(
            model_name='memory',
            name='exact_words',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('title', 'subject_key', 'content', config='simple'), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        install_sql('memory', 'retrieve_memories', 3),
    ]
