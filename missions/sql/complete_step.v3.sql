-- Record a success under the lease token: step, attempt and its step.succeeded event (this is
-- the one place that event is written) in one statement; then wake workers only when the
-- success can free work (dependents, or its agent was at its limit), and roll the mission up.
-- The event's actor is the worker whose attempt it was (the attempt row keeps its name; the
-- step's lease_owner is cleared by the same statement).
CREATE OR REPLACE FUNCTION opscore_complete_step(p_step bigint, p_token uuid, p_result jsonb)
RETURNS boolean
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    done record;
BEGIN
    WITH s AS (
        UPDATE missions_step
        SET status = 'succeeded', result = p_result, last_error = '', lease_token = NULL,
            lease_expires_at = NULL, lease_owner = '', finished_at = statement_timestamp(),
            updated_at = statement_timestamp()
        WHERE id = p_step AND lease_token = p_token AND status = 'running'
        RETURNING id, kind, agent_id, mission_id
    ), attempt AS (
        UPDATE missions_stepattempt t
        SET outcome = 'succeeded', error = '', finished_at = statement_timestamp()
        FROM s WHERE t.step_id = s.id AND t.lease_token = p_token
        RETURNING t.worker_id
    ), event AS (
        INSERT INTO opscore_event (kind, title, summary, tags, payload, agent_id, mission_id,
                                   step_id, actor, created_at)
        SELECT 'step.succeeded', format('S%s %s succeeded', s.id, s.kind), '',
               ARRAY['step', 'succeeded', s.kind], '{}'::jsonb, s.agent_id, s.mission_id, s.id,
               'worker:' || coalesce((SELECT worker_id FROM attempt), ''), statement_timestamp()
        FROM s
    )
    SELECT s.agent_id, s.mission_id INTO done FROM s;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM missions_stepdependency WHERE depends_on_id = p_step)
       OR (SELECT count(*) FROM missions_step
           WHERE agent_id = done.agent_id AND status = 'running')
          >= (SELECT max_concurrent_steps FROM opscore_agent WHERE slug = done.agent_id) - 1 THEN
        PERFORM pg_notify('opscore_steps', '');
    END IF;
    PERFORM opscore_finalize_mission(done.mission_id);
    RETURN true;
END;
$$;
