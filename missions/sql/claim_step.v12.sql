-- Lease the most urgent ready step whose agent has room and is not drained (FOR UPDATE SKIP LOCKED).
-- Only steps Opscore's workers own: their agent runs internally, or the kind is one only Opscore
-- may run (p_internal: a dev.code_change goes through the coding lane whoever its agent is); an
-- external agent's other jobs wait for its outside runtime (opscore_claim_step_for_agent).
-- Candidates come one row at a time from a cursor, so SKIP LOCKED locks only rows looked at.
-- A paused mission's steps wait (missions_mission.paused_at); its running ones finish.
-- A paused lane's step kinds wait too (lane_switches.held_kinds, written by pause-lane).
-- Seq scans are off: a plan cached while the table was small must not outlive its growth.
-- The mission is joined by key (v6's NOT EXISTS over paused missions was planned as a scan of
-- every mission, once per claim: a cost that grew with history), which also tells whether
-- the claim starts the mission; the step's lease and its attempt are one statement.
-- v8: whether a step may run (kind switched on, lane not holding it, dependencies done) is one
-- definition, missions/sql/parts/step_may_run.v1.sql, shared with opscore_claim_step_for_agent.
-- v9: the agent's running steps are counted by the leasing statement itself (one statement a
-- claim fewer; it starts after the agent's lock, so the count sees every committed claim).
-- v10: the candidates are read in the ready index's order and each is checked by looking up its
-- own rows (agent, mission, switches, dependencies), each check a per-row lookup (OFFSET 0 keeps
-- the planner from turning it into a join). As joins the planner chose by its estimates: with a
-- backlog it gathered every unfinished dependency in history once per claim, or read the whole
-- backlog and sorted it (4.5 and 7 ms a claim against 0.2). Whether the claim starts its
-- mission is written by the leasing statement.
-- v11: the two switches that may hold a kind (a worker switch, a paused lane) are read by one
-- lookup of the policy rows (step_may_run.v3): one per-row check fewer for each candidate.
-- v12: the lease, its attempt and the mission's start are three statements again (v7 joined
-- them with CTEs): every reference to the leased row read it back from the CTE's store, all its
-- columns each time, and that cost more than the two statements it saved (callgrind, one
-- backend looping claim → complete: 26 k instructions a step less as three).
CREATE OR REPLACE FUNCTION opscore_claim_step(
    p_worker text, p_lease_seconds double precision, p_internal text[])
RETURNS SETOF missions_step
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    candidates CURSOR FOR
        SELECT s.id, s.agent_id, s.mission_id
        FROM missions_step s
        WHERE s.status = 'queued' AND s.run_after <= statement_timestamp()
          AND EXISTS (
              SELECT 1 FROM opscore_agent a
              WHERE a.slug = s.agent_id AND a.enabled AND NOT a.draining
                AND (a.runtime = 'internal' OR s.kind = ANY(p_internal)) OFFSET 0)
          AND EXISTS (
              SELECT 1 FROM missions_mission m
              WHERE m.id = s.mission_id AND m.paused_at IS NULL OFFSET 0)
          -- include: step_may_run.v3
        ORDER BY s.priority DESC, s.run_after, s.id
        FOR UPDATE OF s SKIP LOCKED
        LIMIT 8;
    candidate record;
    full_agents text[] := '{}';
    waiting bigint[] := '{}';
    pass integer;
    claimed missions_step;
BEGIN
    FOR pass IN 1..2 LOOP
        OPEN candidates;
        LOOP
            FETCH candidates INTO candidate;
            EXIT WHEN NOT FOUND;
            CONTINUE WHEN candidate.agent_id = ANY(full_agents);
            CONTINUE WHEN pass = 2 AND NOT candidate.id = ANY(waiting);
            -- Claims for one agent are serialised until commit, so the count below sees
            -- every committed claim and the agent's limit holds.
            IF pass = 1 THEN
                IF NOT pg_try_advisory_xact_lock(
                        hashtext('opscore.agent.' || candidate.agent_id)) THEN
                    waiting := waiting || candidate.id;
                    CONTINUE;
                END IF;
            ELSE
                PERFORM pg_advisory_xact_lock(hashtext('opscore.agent.' || candidate.agent_id));
            END IF;
            -- The lease is taken only while the agent is under its limit, counted by the same
            -- statement: it starts after the lock, so it sees every committed claim.
            UPDATE missions_step
            SET status = 'running', lease_owner = p_worker, lease_token = gen_random_uuid(),
                lease_expires_at = statement_timestamp()
                                   + make_interval(secs => p_lease_seconds),
                attempt_count = attempt_count + 1, updated_at = statement_timestamp()
            WHERE id = candidate.id
              AND (SELECT count(*) FROM missions_step r
                   WHERE r.agent_id = candidate.agent_id AND r.status = 'running')
                  < (SELECT max_concurrent_steps FROM opscore_agent
                     WHERE slug = candidate.agent_id)
            RETURNING * INTO claimed;
            IF NOT FOUND THEN
                full_agents := full_agents || candidate.agent_id;
                CONTINUE;
            END IF;
            CLOSE candidates;
            INSERT INTO missions_stepattempt (step_id, attempt_no, worker_id, lease_token,
                                              started_at, outcome, error)
            VALUES (claimed.id, claimed.attempt_count, p_worker, claimed.lease_token,
                    clock_timestamp(), 'running', '');
            UPDATE missions_mission SET status = 'running'
            WHERE id = claimed.mission_id AND status = 'approved';
            RETURN NEXT claimed;
            RETURN;
        END LOOP;
        CLOSE candidates;
        EXIT WHEN cardinality(waiting) = 0;
    END LOOP;
END;
$$;
