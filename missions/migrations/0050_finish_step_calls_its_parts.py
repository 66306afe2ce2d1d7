from django.db import migrations

from opscore.sqlfiles import install_sql

# opscore_finish_step records the success and claims the next step by calling
# opscore_complete_step and opscore_claim_step itself: one set-returning call a step fewer (its
# function scan is set up, with a tuple descriptor of the step's row, for every step).


class Migration(migrations.Migration):
    dependencies = [("missions", "0049_cheaper_per_statement_checks")]

    operations = [install_sql("missions", "finish_step", 2)]
