-- Record a success under the lease token: attempt, event, mission finalisation; wake
-- workers only when the success can free work (dependents, or its agent was at its limit).
CREATE OR REPLACE FUNCTION opscore_complete_step(p_step bigint, p_token uuid, p_result jsonb)
RETURNS boolean
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
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
