from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    """A stale worker is one past OPS_WORKER_STALE_SECONDS, read from the database (same
    columns). Reversed, v4's views go back first, then the function they no longer use."""

    dependencies = [("console", "0006_health_views_v4")]

    operations = [
        migrations.RunSQL(
            migrations.RunSQL.noop, "DROP FUNCTION IF EXISTS opscore_worker_stale_seconds()"
        ),
        install_sql("console", "health_views", 5),
    ]
