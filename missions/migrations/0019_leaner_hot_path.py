import importlib

from django.db import migrations

# A leaner claim → complete path (issue 3's throughput target with 4 workers on 2 cores, where
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

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION opscore_claim_step(p_worker text, p_lease_seconds double precision)
RETURNS SETOF missions_step
LANGUAGE plpgsql AS $$
DECLARE
    candidates CURSOR FOR
        SELECT s.id, s.agent_id, a.max_concurrent_steps
        FROM missions_step s
        JOIN opscore_agent a ON a.slug = s.agent_id
        WHERE s.status = 'queued' AND s.run_after <= statement_timestamp() AND a.enabled
          AND NOT EXISTS (
              SELECT 1 FROM opscore_policy w
              WHERE w.key = 'worker_switches' AND w.value -> 'kinds' -> s.kind = 'false')
          AND NOT EXISTS (
              SELECT 1 FROM missions_stepdependency d
              JOIN missions_step p ON p.id = d.depends_on_id
              WHERE d.step_id = s.id AND p.status <> 'succeeded')
        ORDER BY s.priority DESC, s.run_after, s.id
        FOR UPDATE OF s SKIP LOCKED
        LIMIT 8;
    candidate record;
    running integer;
    full_agents text[] := '{}';
    waiting bigint[] := '{}';
    pass integer;
    claimed missions_step;
BEGIN
    FOR pass IN 1..2 LOOP
        OPEN candidates;
        LOOP
            FETCH candidates INTO candidate;
            EXIT WHEN NOT FOUND;
            CONTINUE WHEN candidate.agent_id = ANY(full_agents);
            CONTINUE WHEN pass = 2 AND NOT candidate.id = ANY(waiting);
            -- Claims for one agent are serialised until commit, so the count below sees
            -- every committed claim and the agent's limit holds.
            IF pass = 1 THEN
                IF NOT pg_try_advisory_xact_lock(
                        hashtext('opscore.agent.' || candidate.agent_id)) THEN
                    waiting := waiting || candidate.id;
                    CONTINUE;
                END IF;
            ELSE
                PERFORM pg_advisory_xact_lock(hashtext('opscore.agent.' || candidate.agent_id));
            END IF;
            SELECT count(*) INTO running FROM missions_step
            WHERE agent_id = candidate.agent_id AND status = 'running';
            IF running >= candidate.max_concurrent_steps THEN
                full_agents := full_agents || candidate.agent_id;
                CONTINUE;
            END IF;
            CLOSE candidates;
            UPDATE missions_step
            SET status = 'running', lease_owner = p_worker, lease_token = gen_random_uuid(),
                lease_expires_at = statement_timestamp() + make_interval(secs => p_lease_seconds),
                attempt_count = attempt_count + 1, updated_at = statement_timestamp()
            WHERE id = candidate.id
            RETURNING * INTO claimed;
            INSERT INTO missions_stepattempt (step_id, attempt_no, worker_id, lease_token,
                                              started_at, outcome, error)
            VALUES (claimed.id, claimed.attempt_count, p_worker, claimed.lease_token,
                    clock_timestamp(), 'running', '');
            UPDATE missions_mission SET status = 'running'
            WHERE id = claimed.mission_id AND status = 'approved';
            RETURN NEXT claimed;
            RETURN;
        END LOOP;
        CLOSE candidates;
        EXIT WHEN cardinality(waiting) = 0;
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION opscore_complete_step(p_step bigint, p_token uuid, p_result jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    s missions_step;
    worker text;
BEGIN
    SELECT lease_owner INTO worker FROM missions_step
    WHERE id = p_step AND lease_token = p_token AND status = 'running';
    UPDATE missions_step
    SET status = 'succeeded', result = p_result, last_error = '', lease_token = NULL,
        lease_expires_at = NULL, lease_owner = '', finished_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE id = p_step AND lease_token = p_token AND status = 'running'
    RETURNING * INTO s;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE missions_stepattempt
    SET outcome = 'succeeded', error = '', finished_at = statement_timestamp()
    WHERE step_id = p_step AND lease_token = p_token;
    INSERT INTO opscore_event (kind, title, summary, tags, payload, agent_id, mission_id,
                               step_id, actor, created_at)
    VALUES ('step.succeeded', format('S%s %s succeeded', s.id, s.kind), '',
            ARRAY['step', 'succeeded', s.kind], '{}'::jsonb, s.agent_id, s.mission_id, s.id,
            'worker:' || worker, statement_timestamp());
    IF EXISTS (SELECT 1 FROM missions_stepdependency WHERE depends_on_id = p_step)
       OR (SELECT count(*) FROM missions_step
           WHERE agent_id = s.agent_id AND status = 'running')
          >= (SELECT max_concurrent_steps FROM opscore_agent WHERE slug = s.agent_id) - 1 THEN
        PERFORM pg_notify('opscore_steps', '');
    END IF;
    PERFORM opscore_finalize_mission(s.mission_id);
    RETURN true;
END;
$$;

DROP TRIGGER IF EXISTS missions_step_notify_update ON missions_step;
CREATE TRIGGER missions_step_notify_update
AFTER UPDATE OF status, run_after ON missions_step
FOR EACH ROW WHEN ((NEW.status = 'queued'
                    OR (OLD.status = 'running' AND NEW.status NOT IN ('running', 'succeeded')))
                   AND (OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.run_after IS DISTINCT FROM NEW.run_after))
EXECUTE FUNCTION missions_step_notify();

ALTER FUNCTION opscore_claim_step(text, double precision) SET enable_seqscan = off;
ALTER FUNCTION opscore_complete_step(bigint, uuid, jsonb) SET enable_seqscan = off;
ALTER FUNCTION opscore_finalize_mission(bigint) SET enable_seqscan = off;
"""


def previous_sql() -> str:
    functions = importlib.import_module("missions.migrations.0005_execution_functions")
    trigger = importlib.import_module("missions.migrations.0006_notify_on_freed_capacity")
    claim_and_complete = functions.FUNCTIONS[functions.FUNCTIONS.index("CREATE FUNCTION") :]
    reset = "".join(
        f"ALTER FUNCTION {name} RESET enable_seqscan;\n"
        for name in (
            "opscore_claim_step(text, double precision)",
            "opscore_complete_step(bigint, uuid, jsonb)",
            "opscore_finalize_mission(bigint)",
        )
    )
    create = claim_and_complete.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    return create + trigger.FORWARD + reset


class Migration(migrations.Migration):
    dependencies = [("missions", "0018_gated_kind_index")]

    operations = [migrations.RunSQL(FUNCTIONS, previous_sql())]
