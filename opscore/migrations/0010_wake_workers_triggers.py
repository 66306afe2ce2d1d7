from django.db import migrations

from opscore.sqlfiles import install_sql

# Steps also become claimable when their agent is enabled or given room, or when their kind's
# worker switch is turned back on. The triggers live with the tables they watch; they call the
# step wake-up function (missions/sql/step_notify.v1.sql). Creating them drops any made by the
# earlier missions 0020, so a database that ran it ends up the same.


class Migration(migrations.Migration):
    dependencies = [
        ("opscore", "0009_event_log_without_foreign_keys"),
        ("missions", "0020_wake_on_agent_and_switch_changes"),
    ]

    operations = [
        install_sql(
            "opscore",
            "wake_workers_triggers",
            1,
            drop="DROP TRIGGER IF EXISTS opscore_worker_switches_wake_workers ON opscore_policy;"
            "DROP TRIGGER IF EXISTS opscore_agent_wakes_workers ON opscore_agent;",
        ),
    ]
