-- Wake the Stage's listeners (LISTEN opscore_events): one hint per statement, not per row.
-- v2: through opscore_hint, so a caller that commits before it notifies can hold it back.
CREATE OR REPLACE FUNCTION opscore_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM opscore_hint('opscore_events');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
