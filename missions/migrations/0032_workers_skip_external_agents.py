from django.db import migrations

from opscore.sqlfiles import read_sql

OLD_CLAIM = "DROP FUNCTION IF EXISTS opscore_claim_step(text, double precision, text[]);"
OLD_COMPLETE = (
    "DROP FUNCTION IF EXISTS "
    "opscore_complete_and_claim(bigint, uuid, jsonb, text, double precision, text[]);"
)


class Migration(migrations.Migration):
    """Opscore's workers never claim an external agent's jobs (except the coding lane's kinds,
    which only Opscore runs); an outside runtime claims only an external agent's."""

    dependencies = [
        ("missions", "0031_outbox_attempt_time"),
        ("opscore", "0017_agent_runtime"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("missions", "claim_step", 4),
            [OLD_CLAIM, read_sql("missions", "claim_step", 3)],
        ),
        migrations.RunSQL(
            read_sql("missions", "complete_and_claim", 2),
            [OLD_COMPLETE, read_sql("missions", "complete_and_claim", 1)],
        ),
        migrations.RunSQL(
            read_sql("missions", "claim_step_for_agent", 3),
            read_sql("missions", "claim_step_for_agent", 2),
        ),
    ]
