from django.db import migrations

from opscore.sqlfiles import install_sql

# A worker that finished a step without outside effects records it and claims its next step
# in one round trip and one commit. Same rules as the two functions it calls.


class Migration(migrations.Migration):
    dependencies = [("missions", "0008_step_dedupe_partial")]

    operations = [
        install_sql(
            "missions",
            "complete_and_claim",
            1,
            drop="DROP FUNCTION IF EXISTS "
            "opscore_complete_and_claim(bigint, uuid, jsonb, text, double precision);",
        ),
    ]
