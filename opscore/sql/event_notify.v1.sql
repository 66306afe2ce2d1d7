-- Wake the Stage's listeners (LISTEN opscore_events): one hint per statement, not per row.
CREATE OR REPLACE FUNCTION opscore_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('opscore_events', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
