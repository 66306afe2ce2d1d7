from django.db import migrations

from opscore.sqlfiles import install_sql

# A coding run's gated deploy is a `deploy` whose payload names the run: Opscore's workers take
# it whoever its agent is, and an outside runtime's claim-jobs never hands it out (it could have
# marked succeeded a deploy that had no deploy approval and moved no ref).


class Migration(migrations.Migration):
    dependencies = [("missions", "0074_attempt_outcome_held")]

    operations = [
        install_sql("missions", "claim_step", 14),
        install_sql("missions", "finish_step", 6),
        install_sql("missions", "claim_step_for_agent", 10),
    ]
