-- Seed 004's seven health views, one company per install (no namespace column). They give health,
-- not gap truth: a run that never started leaves no row here — the standing-order gap check
-- (which knows the schedules) records those as `missed`, and this view counts them.
-- v3: the oldest queued step is the oldest *due* one, aged from when it fell due: a step delayed
-- into the future is not waiting for a worker (next_delayed_run_at says when it will be), so it
-- no longer raised the queue-age alert.
-- v4: a worker that stopped cleanly is counted neither healthy nor stale.
-- v5: a worker is stale after OPS_WORKER_STALE_SECONDS, as `status`, /readyz and a restore's
-- refusal count it, not after a fixed 90 s. A view cannot read a process's settings, and one read
-- from the session (current_setting) would answer psql differently from the app: the threshold
-- is opscore_worker_stale_seconds(), this file's 90 written over with the setting after every
-- migrate (console.health.sync_worker_stale_seconds), one answer for every connection.
CREATE OR REPLACE FUNCTION opscore_worker_stale_seconds() RETURNS integer
LANGUAGE sql STABLE
AS $$ SELECT 90 $$;

CREATE OR REPLACE VIEW queue_health_summary_v AS
SELECT
    count(*) FILTER (WHERE status = 'queued') AS queued_count,
    count(*) FILTER (WHERE status = 'running') AS running_count,
    count(*) FILTER (WHERE status = 'blocked') AS blocked_count,
    count(*) FILTER (WHERE status = 'succeeded') AS succeeded_count,
    count(*) FILTER (WHERE status = 'failed') AS failed_count,
    count(*) FILTER (WHERE status = 'dead') AS dead_count,
    count(*) FILTER (WHERE status = 'cancelled') AS cancelled_count,
    count(*) FILTER (WHERE status = 'running' AND lease_expires_at < statement_timestamp())
        AS expired_lease_count,
    count(*) FILTER (WHERE attempt_count >= 3 AND status <> 'succeeded') AS retry_hotspot_count,
    extract(epoch FROM statement_timestamp() - min(greatest(created_at, run_after))
                        FILTER (WHERE status = 'queued' AND run_after <= statement_timestamp()))::float8
        AS oldest_queued_age_seconds,
    extract(epoch FROM statement_timestamp() - min(updated_at) FILTER (WHERE status = 'blocked'))::float8
        AS oldest_blocked_age_seconds,
    min(run_after) FILTER (WHERE status = 'queued' AND run_after > statement_timestamp())
        AS next_delayed_run_at
FROM missions_step;

CREATE OR REPLACE VIEW standing_order_health_summary_v AS
SELECT
    count(*) FILTER (WHERE status <> 'skipped') AS runs_last_24h,
    count(*) FILTER (WHERE status = 'completed') AS completed_last_24h,
    count(*) FILTER (WHERE status = 'no_work') AS no_work_last_24h,
    count(*) FILTER (WHERE status = 'blocked') AS blocked_last_24h,
    count(*) FILTER (WHERE status = 'failed') AS failed_last_24h,
    count(*) FILTER (WHERE status = 'missed') AS missed_last_24h,
    count(*) FILTER (WHERE status = 'started') AS started_last_24h
FROM opscore_standingorderrun
WHERE created_at >= statement_timestamp() - interval '24 hours';

CREATE OR REPLACE VIEW worker_health_summary_v AS
SELECT
    (SELECT count(*) FROM missions_worker) AS worker_count,
    -- A worker that stopped cleanly (stopped_at) is neither healthy nor stale: stale means it
    -- went silent without a word, a crash or a kill -9 (missions.models.workers).
    (SELECT count(*) FROM missions_worker WHERE stopped_at IS NULL
       AND last_seen_at >= statement_timestamp() - opscore_worker_stale_seconds() * interval '1 second')
        AS healthy_worker_count,
    (SELECT count(*) FROM missions_worker WHERE stopped_at IS NULL
       AND last_seen_at < statement_timestamp() - opscore_worker_stale_seconds() * interval '1 second')
        AS stale_worker_count,
    (SELECT max(last_seen_at) FROM missions_worker) AS last_worker_seen_at,
    extract(epoch FROM statement_timestamp() - (SELECT max(last_seen_at) FROM missions_worker))::float8
        AS seconds_since_last_worker_seen,
    (SELECT count(*) FROM missions_step WHERE status = 'running'
       AND lease_expires_at >= statement_timestamp()) AS leases_owned_total,
    (SELECT count(DISTINCT agent_id) FROM missions_step WHERE status = 'running') AS busy_agents_total;

-- The seed's ready and stuck views: what a worker may take now, and leases past their expiry.
CREATE OR REPLACE VIEW ready_steps_v AS
SELECT * FROM missions_step
WHERE status = 'queued' AND run_after <= statement_timestamp();

CREATE OR REPLACE VIEW stuck_steps_v AS
SELECT * FROM missions_step
WHERE status = 'running' AND lease_expires_at IS NOT NULL
  AND lease_expires_at < statement_timestamp();

CREATE OR REPLACE VIEW opportunity_health_summary_v AS
SELECT
    count(*) FILTER (WHERE status = 'new') AS opp_new_count,
    count(*) FILTER (WHERE status = 'triaged') AS opp_triaged_count,
    count(*) FILTER (WHERE status = 'accepted') AS opp_accepted_count,
    count(*) FILTER (WHERE status = 'rejected') AS opp_rejected_count,
    count(*) FILTER (WHERE status = 'parked') AS opp_parked_count,
    count(*) FILTER (WHERE status = 'converted') AS opp_converted_count,
    extract(epoch FROM statement_timestamp() - min(created_at) FILTER (WHERE status = 'new'))::float8
        AS opp_oldest_new_age_seconds
FROM opportunities_opportunity;

CREATE OR REPLACE VIEW idea_health_summary_v AS
SELECT
    count(*) FILTER (WHERE status = 'new') AS idea_new_count,
    count(*) FILTER (WHERE status = 'reviewed') AS idea_reviewed_count,
    count(*) FILTER (WHERE status = 'promoted') AS idea_promoted_count,
    count(*) FILTER (WHERE status = 'archived') AS idea_archived_count,
    extract(epoch FROM statement_timestamp() - min(created_at) FILTER (WHERE status = 'new'))::float8
        AS idea_oldest_new_age_seconds
FROM opportunities_idea;

-- The snapshot keeps v1's columns in order and adds the proactive lane's at the end.
CREATE OR REPLACE VIEW system_health_snapshot_v AS
SELECT statement_timestamp() AS taken_at, q.*, s.*, w.*, o.*, i.*
FROM queue_health_summary_v q
CROSS JOIN standing_order_health_summary_v s
CROSS JOIN worker_health_summary_v w
CROSS JOIN opportunity_health_summary_v o
CROSS JOIN idea_health_summary_v i;
