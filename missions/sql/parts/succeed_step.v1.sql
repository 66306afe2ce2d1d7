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
IF FOUND THEN
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
END IF;
