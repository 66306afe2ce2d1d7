IF current_setting('opscore.hints_after_commit', true) IS DISTINCT FROM 'on' THEN
    PERFORM pg_notify(channel, '');
ELSE
    pending := coalesce(current_setting('opscore.hints_pending', true), '');
    IF NOT channel = ANY(string_to_array(pending, ',')) THEN
        pending := set_config('opscore.hints_pending',
                              concat_ws(',', nullif(pending, ''), channel), true);
    END IF;
END IF;
