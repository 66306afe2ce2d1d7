from django.db import migrations

# The wake-up triggers on opscore_agent and opscore_policy that this migration used to create
# live with their tables now: opscore/migrations/0010_wake_workers_triggers.py.


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0019_leaner_hot_path"),
        ("opscore", "0009_event_log_without_foreign_keys"),
    ]

    operations = []
