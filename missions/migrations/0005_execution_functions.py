from django.db import migrations

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

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION opscore_finalize_mission(p_mission bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m missions_mission;
    new_status text;
BEGIN
    IF EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission
               AND status IN ('queued', 'blocked')) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO m FROM missions_mission WHERE id = p_mission FOR NO KEY UPDATE;
    IF NOT FOUND OR m.status IN ('succeeded', 'failed', 'cancelled') THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission)
       OR EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission
                  AND status IN ('queued', 'running', 'blocked')) THEN
        RETURN NULL;
    END IF;
    new_status := CASE WHEN EXISTS (
        SELECT 1 FROM missions_step WHERE mission_id = p_mission
        AND status IN ('failed', 'dead', 'cancelled')) THEN 'failed' ELSE 'succeeded' END;
    UPDATE missions_mission SET status = new_status, finished_at = statement_timestamp()
    WHERE id = p_mission;
    INSERT INTO opscore_event (kind, title, summary, tags, payload, agent_id, mission_id,
                               actor, created_at)
    VALUES ('mission.' || new_status,
            format('Mission M%s %s: %s', m.id, new_status, m.title), '',
            ARRAY['mission', new_status, 'mission_' || new_status], '{}'::jsonb, m.agent_id,
            m.id, 'system:finalizer', statement_timestamp());
    RETURN new_status;
END;
$$;

CREATE FUNCTION opscore_claim_step(p_worker text, p_lease_seconds double precision)
RETURNS SETOF missions_step
LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
    running integer;
    full_agents text[] := '{}';
    waiting bigint[] := '{}';
    pass integer;
    claimed missions_step;
BEGIN
    FOR pass IN 1..2 LOOP
        FOR candidate IN
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
            LIMIT 8
        LOOP
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
            UPDATE missions_worker SET current_step_id = claimed.id,
                last_seen_at = statement_timestamp()
            WHERE worker_id = p_worker;
            RETURN NEXT claimed;
            RETURN;
        END LOOP;
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
    UPDATE missions_worker
    SET current_step_id = NULL, steps_run = steps_run + 1, last_seen_at = statement_timestamp()
    WHERE worker_id = worker;
    PERFORM opscore_finalize_mission(s.mission_id);
    RETURN true;
END;
$$;
"""

REVERSE = """
DROP FUNCTION IF EXISTS opscore_complete_step(bigint, uuid, jsonb);
DROP FUNCTION IF EXISTS opscore_claim_step(text, double precision);
DROP FUNCTION IF EXISTS opscore_finalize_mission(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("missions", "0004_notify_ready_steps"), ("opscore", "0003_actionrun")]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
