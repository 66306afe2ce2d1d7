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
    -- Whether the success frees work and whether the mission may be over are read by the
    -- step's own update (its RETURNING), so from before its write: the step still counts as
    -- running.
    UPDATE missions_step s
    SET status = 'succeeded', result = p_result, last_error = '', lease_token = NULL,
        lease_expires_at = NULL, lease_owner = '', finished_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE s.id = p_step AND s.lease_token = p_token AND s.status = 'running'
    RETURNING s.id, s.kind, s.agent_id, s.mission_id,
              EXISTS (SELECT 1 FROM missions_stepdependency WHERE depends_on_id = p_step)
              OR (SELECT count(*) FROM missions_step r
                  WHERE r.agent_id = s.agent_id AND r.status = 'running')
                 >= (SELECT max_concurrent_steps FROM opscore_agent WHERE slug = s.agent_id)
                  AS frees_work,
              NOT EXISTS (SELECT 1 FROM missions_step q WHERE q.mission_id = s.mission_id
                          AND q.status IN ('queued', 'blocked')) AS may_finish
    INTO done;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE missions_stepattempt
    SET outcome = 'succeeded', error = '', finished_at = statement_timestamp()
    WHERE step_id = p_step AND lease_token = p_token
    RETURNING worker_id INTO worker;
    INSERT INTO opscore_event (kind, title, summary, tags, payload, agent_id, mission_id,
                               step_id, actor, created_at)
    VALUES ('step.succeeded', format('S%s %s succeeded', done.id, done.kind), '',
            ARRAY['step', 'succeeded', done.kind], '{}'::jsonb, done.agent_id, done.mission_id,
            done.id, 'worker:' || coalesce(worker, ''), statement_timestamp());
    IF done.frees_work THEN
        PERFORM opscore_hint('opscore_steps');
    END IF;
    IF done.may_finish THEN
        ending := opscore_end_mission(done.mission_id);
    END IF;
    RETURN true;
END;
$$;
