from django.db import migrations

from opscore.sqlfiles import read_sql

NEW_VIEWS = ["ready_steps_v", "stuck_steps_v", "opportunity_health_summary_v"]
NEW_VIEWS += ["idea_health_summary_v"]


class Migration(migrations.Migration):
    """The seed's seven health views: ready and stuck steps, opportunity and idea health, and
    the snapshot with the proactive lane's columns."""

    dependencies = [
        ("console", "0003_chatmessage"),
        ("opportunities", "0007_opportunity_goal"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("console", "health_views", 2),
            "DROP VIEW IF EXISTS system_health_snapshot_v;"
            + "".join(f"DROP VIEW IF EXISTS {v};" for v in NEW_VIEWS)
            + read_sql("console", "health_views", 1),
        ),
    ]
