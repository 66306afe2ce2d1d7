from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    """Workers that stopped cleanly are counted neither healthy nor stale (same columns)."""

    dependencies = [
        ("console", "0005_health_views_v3"),
        ("missions", "0054_worker_stopped_at"),
    ]

    operations = [install_sql("console", "health_views", 4)]
