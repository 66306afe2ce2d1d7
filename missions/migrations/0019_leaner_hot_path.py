from django.db import migrations

from opscore.sqlfiles import install_sql

# A leaner claim → complete path (for throughput with 4 workers on 2 cores, where
# every statement is CPU the workers share):
# - the claim and completion functions no longer write the worker's liveness row twice a step;
#   the worker writes it on its ~30 s beat and on lease renewal (missions/worker.py);
# - candidates are fetched from an explicit cursor, one row at a time, so FOR UPDATE SKIP
#   LOCKED locks only the rows actually looked at instead of the whole prefetched batch;
# - a success wakes idle workers only when it can make work claimable: the step has
#   dependents, or its agent was at its concurrency limit. Every other exit from `running`
#   (failed, blocked, dead, cancelled) and every step becoming queued still wakes them through
#   the trigger, which no longer fires for successes;
# - the functions plan with seq scans off. PL/pgSQL caches a generic plan per statement for the
#   life of a connection; planned while a table was nearly empty (a fresh install, a worker
#   started early) "UPDATE … WHERE step_id = …" became a seq scan that a long-lived worker kept
#   using as the table grew. Every statement here reaches rows by key, so an index is always
#   the right path.


class Migration(migrations.Migration):
    dependencies = [("missions", "0018_gated_kind_index")]

    operations = [
        install_sql("missions", "claim_step", 2),
        install_sql("missions", "complete_step", 2),
        install_sql("missions", "finalize_mission", 2),
        install_sql("missions", "step_notify_triggers", 3),
    ]
