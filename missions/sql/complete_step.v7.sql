-- Record a success under the lease token: step, attempt and its step.succeeded event (this is
-- the one place that event is written); then wake workers only when the success can free work
-- (dependents, or its agent was at its limit), and roll the mission up.
-- The event's actor is the worker whose attempt it was (the attempt row keeps its name; the
-- step's lease_owner is cleared by the same statement).
-- v4: whether the success frees work and whether the mission may be over are read by that same
-- statement (from before its writes), and the mission is rolled up only when no step of it
-- waits; the workers' wake-up goes through opscore_hint, so a caller that commits first
-- (opscore_finish_step) sends it after its commit.
-- v5: the mission is closed by opscore_end_mission, without opscore_finalize_mission's check that
-- no step of it waits: this statement has just made it (may_finish).
-- v6: the step, its attempt and its event are three statements again (v3 joined them with
-- CTEs, each reading the step's row back from the CTE's store): 20 k instructions a step less
-- as three (callgrind).
-- v7: the statements are a part (parts/succeed_step.v1.sql) that opscore_finish_step includes
-- too, rather than calls: a worker's success runs them without a second function's call.
CREATE OR REPLACE FUNCTION opscore_complete_step(p_step bigint, p_token uuid, p_result jsonb)
RETURNS boolean
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    done record;
    worker text;
    ending text;
BEGIN
    -- include: succeed_step.v1
    RETURN done.id IS NOT NULL;
END;
$$;
