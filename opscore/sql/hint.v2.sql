-- A wake-up hint (NOTIFY with no payload) on `p_channel`, sent when the transaction commits.
-- A caller that sets opscore.hints_after_commit for its transaction gets the channel added to
-- opscore.hints_pending instead (once), and sends those itself once its commit is durable
-- (opscore_finish_step): NOTIFY holds a cluster-wide lock from its transaction's commit until
-- the commit is on disk, so transactions that notify commit one at a time.
-- v2: the body is a part (parts/send_hint.v1.sql) that opscore_event_notify includes too, so
-- the trigger every event insert fires does not call a second function to send its hint.
CREATE OR REPLACE FUNCTION opscore_hint(p_channel text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    channel text := p_channel;
    pending text;
BEGIN
    -- include: send_hint.v1
END;
$$;
