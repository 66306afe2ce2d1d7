-- Close a mission once every step is terminal (opscore_end_mission says how). A mission with a
-- step still queued or blocked is left as it is without being locked.
-- v5: the closing itself is opscore_end_mission (end_mission.v1.sql), which a success calls
-- directly, its own statement having made this check already.
CREATE OR REPLACE FUNCTION opscore_finalize_mission(p_mission bigint) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM missions_step WHERE mission_id = p_mission
               AND status IN ('queued', 'blocked')) THEN
        RETURN NULL;
    END IF;
    RETURN opscore_end_mission(p_mission);
END;
$$;
