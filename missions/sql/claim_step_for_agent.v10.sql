-- A paused mission's steps wait (missions_mission.paused_at), as in opscore_claim_step, and so
-- do a paused lane's step kinds (lane_switches.held_kinds): claim-jobs hands out none of them.
-- An external runtime working for one agent (agentbus claim-jobs --target-agent): the rules of
-- opscore_claim_step — due, dependencies done, agent enabled and not drained, under its
-- concurrency limit, kind switched on — over one agent's steps, except kinds only Opscore's own
-- executor may run (p_internal: a dev.code_change is run by the coding lane, never by whoever
-- claims it), and only for an agent whose runtime is external: Opscore's workers own an internal
-- agent's jobs, so the two never race for them. A separate function so the workers' hot path
-- keeps its plan (an optional agent filter there cost it 3x at 100k rows).
-- The mission is joined by key: a NOT EXISTS over paused missions can be planned as a scan of
-- every mission, a cost that grows with history.
-- v7: whether a step may run is one definition shared with opscore_claim_step
-- (missions/sql/parts/step_may_run.v1.sql).
-- v8: each check of step_may_run (v2) looks up the candidate's own rows, as in
-- opscore_claim_step v10.
-- v9: the kind's two switches are read by one lookup of the policy rows (step_may_run.v3), as
-- in opscore_claim_step v11.
-- v10: nor a step p_internal names by `kind?key` (a deploy naming a coding run), as
-- opscore_claim_step v14 takes it (parts/runs_inside.v1.sql).
CREATE OR REPLACE FUNCTION opscore_claim_step_for_agent(
    p_worker text, p_lease_seconds double precision, p_agent text, p_internal text[])
RETURNS SETOF missions_step
LANGUAGE plpgsql AS $$
DECLARE
    chosen bigint;
    claimed missions_step;
BEGIN
    -- Serialised with every other claim for this agent, so its limit holds.
    PERFORM pg_advisory_xact_lock(hashtext('opscore.agent.' || p_agent));
    SELECT s.id INTO chosen
    FROM missions_step s
    JOIN opscore_agent a ON a.slug = s.agent_id
    JOIN missions_mission m ON m.id = s.mission_id AND m.paused_at IS NULL
    WHERE s.agent_id = p_agent AND s.status = 'queued' AND s.run_after <= statement_timestamp()
      AND NOT
          -- include: runs_inside.v1
      AND a.enabled AND NOT a.draining AND a.runtime = 'external'
      AND (SELECT count(*) FROM missions_step r
           WHERE r.agent_id = p_agent AND r.status = 'running') < a.max_concurrent_steps
      -- include: step_may_run.v3
    ORDER BY s.priority DESC, s.run_after, s.id
    FOR UPDATE OF s SKIP LOCKED
    LIMIT 1;
    IF chosen IS NULL THEN
        RETURN;
    END IF;
    UPDATE missions_step
    SET status = 'running', lease_owner = p_worker, lease_token = gen_random_uuid(),
        lease_expires_at = statement_timestamp() + make_interval(secs => p_lease_seconds),
        attempt_count = attempt_count + 1, updated_at = statement_timestamp()
    WHERE id = chosen
    RETURNING * INTO claimed;
    INSERT INTO missions_stepattempt (step_id, attempt_no, worker_id, lease_token,
                                      started_at, outcome, error)
    VALUES (claimed.id, claimed.attempt_count, p_worker, claimed.lease_token,
            clock_timestamp(), 'running', '');
    UPDATE missions_mission SET status = 'running'
    WHERE id = claimed.mission_id AND status = 'approved';
    RETURN NEXT claimed;
END;
$$;
