from django.db import migrations

# Faster hot path, same rules as 0005:
# - the candidate query has no parameters (the switched-off kinds are read in a subquery), so
#   PL/pgSQL caches one plan for it instead of re-planning each call or picking a generic plan
#   that sorts the whole queue;
# - a finishing step locks its mission only when no queued or blocked sibling remains, i.e. when
#   it may be the last one (the two last steps finishing at once still serialise on that lock).

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
    SELECT * INTO m FROM missions_mission WHERE id = p_mission FOR UPDATE;
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

DROP FUNCTION IF EXISTS opscore_claim_step(text, double precision, integer);

CREATE FUNCTION opscore_claim_step(p_worker text, p_lease_seconds double precision)
RETURNS SETOF missions_step
LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
    running integer;
    full_agents text[] := '{}';
    claimed missions_step;
BEGIN
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
        -- Serialise claims per agent until commit; the count then sees every committed claim.
        PERFORM pg_advisory_xact_lock(hashtext('opscore.agent.' || candidate.agent_id));
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
                statement_timestamp(), 'running', '');
        UPDATE missions_mission SET status = 'running'
        WHERE id = claimed.mission_id AND status = 'approved';
        UPDATE missions_worker SET current_step_id = claimed.id,
            last_seen_at = statement_timestamp()
        WHERE worker_id = p_worker;
        RETURN NEXT claimed;
        RETURN;
    END LOOP;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("missions", "0006_notify_on_freed_capacity")]

    operations = [migrations.RunSQL(FUNCTIONS, migrations.RunSQL.noop)]
