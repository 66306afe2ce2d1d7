-- Whether a step's update may have made work claimable (missions_step_notify_update's WHEN):
-- it became queued or moved its run_after while queued, or it left running other than by
-- succeeding (its agent has room again; a success wakes workers from opscore_complete_step).
-- A function rather than the expression itself: Postgres reads a trigger's WHEN back from its
-- stored tree and prepares it again for every statement that updates the table, twice a step
-- on the workers' path, and this one's tree was ~3.4 KB; a call's is a third of that, and
-- PL/pgSQL keeps the compiled body for the session.
CREATE OR REPLACE FUNCTION missions_step_wakes_workers(
    old_status text, new_status text, old_run_after timestamptz, new_run_after timestamptz)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (new_status = 'queued'
            OR (old_status = 'running' AND new_status NOT IN ('running', 'succeeded')))
           AND (old_status IS DISTINCT FROM new_status
                OR old_run_after IS DISTINCT FROM new_run_after);
END;
$$;
