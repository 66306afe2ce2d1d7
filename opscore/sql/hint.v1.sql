-- A wake-up hint (NOTIFY with no payload) on `p_channel`, sent when the transaction commits.
-- A caller that sets opscore.hints_after_commit for its transaction gets the channel added to
-- opscore.hints_pending instead (once), and sends those itself once its commit is durable
-- (opscore_finish_step): NOTIFY holds a cluster-wide lock from its transaction's commit until
-- the commit is on disk, so transactions that notify commit one at a time.
CREATE OR REPLACE FUNCTION opscore_hint(p_channel text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    pending text;
BEGIN
    IF current_setting('opscore.hints_after_commit', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify(p_channel, '');
        RETURN;
    END IF;
    pending := coalesce(current_setting('opscore.hints_pending', true), '');
    IF NOT p_channel = ANY(string_to_array(pending, ',')) THEN
        PERFORM set_config('opscore.hints_pending', concat_ws(',', nullif(pending, ''), p_channel),
                           true);
    END IF;
END;
$$;
