"""Relevance-first retrieval (issue 29): a weighted search vector (title and subject key A,
body B) under a partial GIN index, memory_retrieve v2 scoring BM25-style, the old
(confidence, recency) walk indexes dropped, and a candidate may name the memory it supersedes."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

from opscore.sqlfiles import read_sql

V2 = 'memory_retrieve(text, text[], integer, integer, integer)'


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0007_candidate_untrusted_reason'),
        ('opscore', '0014_llm_call_lane_tier'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_search_gin',
        ),
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_rank_agent',
        ),
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_rank_subject',
        ),
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_rank_agent_lessons',
        ),
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_rank_shared_lessons',
        ),
        migrations.RemoveIndex(
            model_name='memory',
            name='memory_rank_company',
        ),
        migrations.AddField(
            model_name='memorycandidate',
            name='supersedes',
            field=models.ForeignKey(blank=True, help_text='the memory this one replaces: the same claim, newer', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='memory.memory'),
        ),
        migrations.RemoveField(model_name='memory', name='search'),
        migrations.AddField(
            model_name='memory',
            name='search',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.SearchVector('title', 'subject_key', config='english', weight='A'), '||', django.contrib.postgres.search.SearchVector('content', config='english', weight='B'), django.contrib.postgres.search.SearchConfig('english')), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddIndex(
            model_name='memory',
            index=django.contrib.postgres.indexes.GinIndex(condition=models.Q(('status', 'active')), fields=['search'], name='memory_active_search'),
        ),
        migrations.RunSQL(
            read_sql('memory', 'retrieve_memories', 2),
            f"DROP FUNCTION IF EXISTS {V2};" + read_sql('memory', 'retrieve_memories', 1),
        ),
    ]
