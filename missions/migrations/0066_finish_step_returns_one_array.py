from django.db import migrations

from opscore.sqlfiles import read_sql

# opscore_finish_step hands the claimed step back as one JSON array instead of seventeen INOUT
# parameters: a CALL with parameters is planned anew on every execution, so each parameter cost
# every step (callgrind, a worker's backend over real CALLs: 1.73 → 1.66 M instructions a step).
# The signature changes, so going back drops this one before v3 creates its own.
NEW_SIGNATURE = "bigint, uuid, jsonb, text, double precision, text[], json"


class Migration(migrations.Migration):
    dependencies = [("missions", "0065_lease_and_success_as_statements")]

    operations = [
        migrations.RunSQL(
            read_sql("missions", "finish_step", 4),
            f"DROP PROCEDURE IF EXISTS opscore_finish_step({NEW_SIGNATURE});\n"
            + read_sql("missions", "finish_step", 3),
        ),
    ]
