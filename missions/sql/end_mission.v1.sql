-- Close a mission none of whose steps waits any more (none queued or blocked), once every
-- step is terminal: failed if any failed, died or was cancelled. A mission already ended
-- (timed_out too) keeps its ending. Returns the ending, or NULL when the mission goes on.
-- The mission is locked first and its steps read after, by a statement of their own: it sees
-- every step its concurrent finishers committed before they let go of the mission, so of two
-- steps ending together the later one closes it. Its ending and the ending's event are one
-- statement. Seq scans are off: every statement reaches rows by key.
-- Called by opscore_complete_step, whose own statement has just found no step of the mission
-- waiting, and by opscore_finalize_mission after that same check.
CREATE OR REPLACE FUNCTION opscore_end_mission(p_mission bigint) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    m record;
    steps record;
    new_status text;
BEGIN
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
