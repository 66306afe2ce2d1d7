-- Close a mission once every step is terminal: failed if any failed, died or was cancelled.
-- A mission already ended (timed_out too) keeps its ending.
-- Seq scans are off: every statement reaches rows by key.
CREATE OR REPLACE FUNCTION opscore_finalize_mission(p_mission bigint) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    m missions_mission;
    new_status text;
BEGIN
    IF EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission
               AND status IN ('queued', 'blocked')) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO m FROM missions_mission WHERE id = p_mission FOR NO KEY UPDATE;
    IF NOT FOUND OR m.status IN ('succeeded', 'failed', 'cancelled', 'timed_out') THEN
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
