-- Record a success under the lease token: attempt, event, mission finalisation.
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
