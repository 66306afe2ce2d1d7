"""memory_count_use v3: an LLM call's row queues the memories it carried (memory_pending_use)
instead of locking and counting them in its insert; memory_fold_uses counts the queue (the
heartbeat's count_memory_uses duty)."""

import django.contrib.postgres.fields
import django.db.models.functions.datetime
from django.db import migrations, models

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0016_count_use_in_id_order"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingUse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("call_id", models.BigIntegerField()),
                (
                    "memory_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), size=None
                    ),
                ),
                (
                    "used_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
            ],
            options={
                "db_table": "memory_pending_use",
            },
        ),
        install_sql("memory", "fold_memory_uses", 1, drop="DROP FUNCTION memory_fold_uses"),
        install_sql("memory", "count_memory_use", 3),
    ]
