candidates CURSOR FOR
    SELECT s.id, s.agent_id, s.mission_id
    FROM missions_step s
    WHERE s.status = 'queued' AND s.run_after <= statement_timestamp()
      AND EXISTS (
          SELECT 1 FROM opscore_agent a
          WHERE a.slug = s.agent_id AND a.enabled AND NOT a.draining
            AND (a.runtime = 'internal' OR
                 -- include: runs_inside.v1
                ) OFFSET 0)
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
