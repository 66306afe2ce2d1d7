from django.db import migrations

from opscore.sqlfiles import install_sql

VIEWS = ["system_health_snapshot_v", "worker_health_summary_v", "standing_order_health_summary_v"]
VIEWS += ["queue_health_summary_v"]


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0022_claim_skips_drained_agents"),
        ("opscore", "0012_overrides"),
    ]

    operations = [
        install_sql(
            "console", "health_views", 1, drop="".join(f"DROP VIEW IF EXISTS {v};" for v in VIEWS)
        ),
    ]
