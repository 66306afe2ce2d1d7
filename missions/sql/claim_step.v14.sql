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
-- v13: the cursor and the loop are parts (parts/claim_declarations.v1.sql, parts/claim_loop.v1.sql)
-- that opscore_finish_step includes too, rather than calls; there the mission of the step that
-- just succeeded is known to have started, and a claim in it skips the mission's update.
-- v14: p_internal may also name `kind?key`: a step of that kind whose payload has that key is
-- Opscore's own whoever its agent is (a deploy naming a coding run: parts/runs_inside.v1.sql).
CREATE OR REPLACE FUNCTION opscore_claim_step(
    p_worker text, p_lease_seconds double precision, p_internal text[])
RETURNS SETOF missions_step
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    -- include: claim_declarations.v2
    started_mission bigint;  -- none known: the claim updates its mission if still approved
BEGIN
    -- include: claim_loop.v1
    IF claimed.id IS NOT NULL THEN
        RETURN NEXT claimed;
    END IF;
END;
$$;
