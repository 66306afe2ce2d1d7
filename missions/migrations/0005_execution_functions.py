from django.db import migrations

from opscore.sqlfiles import install_sql

# The hot path of durable execution as SQL functions: one round trip to claim a step, one to
# complete it. They keep every rule the Python path states (see missions/execution.py):
# - claim: queued, due by the database clock, dependencies succeeded, agent enabled and under its
#   concurrency limit (claims per agent serialised by an advisory lock, tried without waiting
#   first so a busy agent does not hold up others), kind not switched off; rows locked with
#   FOR UPDATE SKIP LOCKED; the candidate query has no parameters so its plan is cached once;
# - finalize: locks the mission (FOR NO KEY UPDATE, which does not block foreign-key checks)
#   only when the finishing step may be the last, then looks again with a fresh snapshot;
# - attempts start on the database's wall clock (clock_timestamp) so a completion and the next
#   claim in one statement stay distinguishable.


class Migration(migrations.Migration):
    dependencies = [("missions", "0004_notify_ready_steps"), ("opscore", "0003_actionrun")]

    operations = [
        install_sql(
            "missions",
            "finalize_mission",
            1,
            drop="DROP FUNCTION IF EXISTS opscore_finalize_mission(bigint);",
        ),
        install_sql(
            "missions",
            "claim_step",
            1,
            drop="DROP FUNCTION IF EXISTS opscore_claim_step(text, double precision);",
        ),
        install_sql(
            "missions",
            "complete_step",
            1,
            drop="DROP FUNCTION IF EXISTS opscore_complete_step(bigint, uuid, jsonb);",
        ),
    ]
