-- Close a mission once every step is terminal: failed if any failed, died or was cancelled.
-- A mission already ended (timed_out too) keeps its ending.
-- Seq scans are off: every statement reaches rows by key.
-- v4: four statements where there were six: once the mission is locked, one pass over its steps
-- says whether any is still open and whether any failed, and its ending and the ending's event
-- are one statement. The check that no step waits stays first and apart, so a mission with
-- work still queued is not locked, and the steps are read after the lock (a statement of their
-- own sees every step its concurrent finishers committed before they let go of the mission).
CREATE OR REPLACE FUNCTION opscore_finalize_mission(p_mission bigint) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    m record;
    steps record;
    new_status text;
BEGIN
    IF EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission
               AND status IN ('queued', 'blocked')) THEN
        RETURN NULL;
    END IF;
    SELECT id, status, title, agent_id INTO m
    FROM missions_mission WHERE id = p_mission FOR NO KEY UPDATE;
    IF NOT FOUND OR m.status IN ('succeeded', 'failed', 'cancelled', 'timed_out') THEN
        RETURN NULL;
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status IN ('queued', 'running', 'blocked')) AS open,
           count(*) FILTER (WHERE status IN ('failed', 'dead', 'cancelled')) AS failed
    INTO steps FROM missions_step WHERE mission_id = p_mission;
    IF steps.total = 0 OR steps.open > 0 THEN
        RETURN NULL;
    END IF;
    new_status := CASE WHEN steps.failed > 0 THEN 'failed' ELSE 'succeeded' END;
    WITH ended AS (
        UPDATE missions_mission SET status = new_status, finished_at = statement_timestamp()
        WHERE id = p_mission
    )
    INSERT INTO opscore_event (kind, title, summary, tags, payload, agent_id, mission_id,
                               actor, created_at)
    VALUES ('mission.' || new_status,
            format('Mission M%s %s: %s', m.id, new_status, m.title), '',
            ARRAY['mission', new_status, 'mission_' || new_status], '{}'::jsonb, m.agent_id,
            m.id, 'system:finalizer', statement_timestamp());
    RETURN new_status;
END;
$$;
