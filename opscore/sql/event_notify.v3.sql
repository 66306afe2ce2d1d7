-- Wake the Stage's listeners (LISTEN opscore_events): one hint per statement, not per row.
-- v2: through opscore_hint, so a caller that commits before it notifies can hold it back.
-- v3: opscore_hint's body is included (parts/send_hint.v1.sql) rather than called: every event
-- insert fires this, a worker's success among them, and the call was a second function and a
-- PERFORM (a query of its own) each time.
CREATE OR REPLACE FUNCTION opscore_event_notify() RETURNS trigger AS $$
DECLARE
    channel text := 'opscore_events';
    pending text;
BEGIN
    -- include: send_hint.v1
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
