"""memory_retrieve v10 reads a candidate's headline and searchable length from stored columns
(added here) instead of computing them for every candidate of every call."""

import django.contrib.postgres.search
import memory.models.memories
from django.db import migrations, models

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0017_pending_memory_uses'),
    ]

    operations = [
        migrations.AddField(
            model_name='memory',
            name='headline',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('title', 'subject_key', config='english', weight='A'), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddField(
            model_name='memory',
            name='searchable_length',
            field=models.GeneratedField(db_persist=True, expression=memory.models.memories.SearchableLength(django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.SearchVector('title', 'subject_key', config='english', weight='A'), '||', django.contrib.postgres.search.SearchVector('content', config='english', weight='B'), django.contrib.postgres.search.SearchConfig('english'))), output_field=models.IntegerField()),
        ),
        install_sql("memory", "retrieve_memories", 10),
    ]
