from django.db import migrations

from opscore.sqlfiles import install_sql

# A claim's lease, attempt and mission start, and a success's step, attempt and event, are
# separate statements again: joined by CTEs, every reference to the written step read its row
# back from the CTE's store, and that cost more than the statements saved (callgrind, one backend
# looping claim → complete: 1.62 → 1.58 M instructions a step).


class Migration(migrations.Migration):
    dependencies = [("missions", "0064_fewer_checks_a_step")]

    operations = [
        install_sql("missions", "claim_step", 12),
        install_sql("missions", "complete_step", 6),
    ]
