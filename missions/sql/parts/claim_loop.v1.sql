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
        -- A mission that had a step running has left 'approved' for good.
        IF claimed.mission_id IS DISTINCT FROM started_mission THEN
            UPDATE missions_mission SET status = 'running'
            WHERE id = claimed.mission_id AND status = 'approved';
        END IF;
        EXIT;
    END LOOP;
    EXIT WHEN claimed.id IS NOT NULL;
    CLOSE candidates;
    EXIT WHEN cardinality(waiting) = 0;
END LOOP;
