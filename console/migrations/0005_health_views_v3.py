from django.db import migrations

from opscore.sqlfiles import install_sql


class Migration(migrations.Migration):
    """The oldest queued step is the oldest due one, aged from when it fell due."""

    dependencies = [("console", "0004_health_views_v2")]

    operations = [install_sql("console", "health_views", 3)]
