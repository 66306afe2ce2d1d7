-- Record a success and lease the worker's next step (opscore_complete_and_claim), commit, then
-- send the wake-up hints that work wrote (opscore_hint: the Stage's opscore_events, and
-- opscore_steps when the success frees work).
-- Why a procedure that commits in the middle: NOTIFY holds a cluster-wide lock from its
-- transaction's commit until that commit is on disk, so transactions that notify commit one
-- at a time, each after the WAL flush of the one before; with every success writing an event,
-- concurrent workers queued there. Here the success commits with no NOTIFY (concurrent
-- commits share a flush again) and as durably as before; the hints follow in a transaction of
-- their own that does not wait for the disk, so the lock is held for microseconds. A hint is
-- still sent only once what it announces is committed; one lost to a crash in between costs
-- its listener the quiet-spell check every listener already makes for a lost notification.
-- The INOUT parameter is a JSON array of the columns the worker reads of the step it claimed
-- (missions.execution.STEP_FIELDS, in that order); NULL when nothing was claimed.
-- Called outside any transaction block (a transaction's caller uses the function).
-- v2: calls opscore_complete_step and opscore_claim_step itself rather than through
-- opscore_complete_and_claim, one set-returning call (and its tuplestore) a step fewer.
-- v3: the claimed step's columns go into the OUT parameters in the claiming statement (not a
-- row variable copied field by field, seventeen assignments), and each pending hint is one
-- pg_notify call (not a query over the list).
-- v4: the claimed step comes back as one JSON array, not seventeen OUT parameters. A CALL with
-- parameters is planned anew on every execution (Postgres never caches a generic plan for a
-- utility statement), so each parameter was paid for on every step: its part of the statement's
-- tree copied twice, its expression prepared, its OUT column described and sent. One array:
-- 68 k instructions a step less in the worker's backend (callgrind, real CALLs from a worker).
-- v5: the success's statements and the claim are included (parts/succeed_step.v1.sql,
-- parts/claim_declarations.v1.sql, parts/claim_loop.v1.sql) rather than called: two function
-- calls and the claim's set-returning scan fewer; seq scans go off for the transaction, as
-- those functions have them (a procedure that commits cannot SET them). The claim skips the
-- mission's update when its step is in the mission of the step that just succeeded, which a
-- step of it running has moved past 'approved' for good. 54 k instructions a step less
-- (callgrind, a worker's backend over real CALLs, one worker).
-- v6: the claim takes a step p_internal names by `kind?key` (a deploy naming a coding run)
-- for any agent, as opscore_claim_step v14 does (parts/claim_declarations.v2.sql).
CREATE OR REPLACE PROCEDURE opscore_finish_step(
    p_step bigint, p_token uuid, p_result jsonb, p_worker text,
    p_lease_seconds double precision, p_internal text[],
    INOUT step json DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    -- include: claim_declarations.v2
    started_mission bigint;
    done record;
    worker text;
    ending text;
    hints text;
    channel text;
BEGIN
    PERFORM set_config('opscore.hints_after_commit', 'on', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    -- include: succeed_step.v1
    IF done.id IS NULL THEN
        RAISE EXCEPTION 'lease lost for step %', p_step USING ERRCODE = 'OPS01';
    END IF;
    started_mission := done.mission_id;
    -- include: claim_loop.v1
    IF claimed.id IS NOT NULL THEN
        step := json_build_array(
            claimed.id, claimed.mission_id, claimed."position", claimed.kind, claimed.payload,
            claimed.status, claimed.agent_id, claimed.priority, claimed.run_after,
            claimed.lease_owner, claimed.lease_token, claimed.attempt_count,
            claimed.max_attempts, claimed.dedupe_key, claimed.approved_digest,
            claimed.created_at, claimed.updated_at);
    END IF;
    hints := current_setting('opscore.hints_pending', true);
    COMMIT;
    IF hints <> '' THEN
        PERFORM set_config('synchronous_commit', 'off', true);
        FOREACH channel IN ARRAY string_to_array(hints, ',') LOOP
            PERFORM pg_notify(channel, '');
        END LOOP;
    END IF;
END;
$$;
