-- The update trigger of missions_step (step_notify_triggers.v5): wake idle workers when an
-- update may have made work claimable: the step became queued or moved its run_after while
-- queued, or it left running other than by succeeding (its agent has room again; a success
-- wakes workers from opscore_complete_step).
-- The condition is read here, row by row, rather than as the trigger's WHEN: Postgres reads a
-- WHEN back from its stored tree and prepares it for every statement that updates the table,
-- twice a step on the workers' path, and that set-up and the call it makes cost about twice what
-- firing this function for the row does (callgrind, one backend looping claim → complete: 88 k
-- instructions a step for the WHEN, 39 k for this).
CREATE OR REPLACE FUNCTION missions_step_notify_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status = 'queued'
        OR (OLD.status = 'running' AND NEW.status NOT IN ('running', 'succeeded')))
       AND (OLD.status IS DISTINCT FROM NEW.status
            OR OLD.run_after IS DISTINCT FROM NEW.run_after) THEN
        PERFORM pg_notify('opscore_steps', '');  -- one hint per transaction
    END IF;
    RETURN NULL;
END;
$$;
