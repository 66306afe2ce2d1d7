-- Wake idle workers (LISTEN opscore_steps): a step may have become claimable. A hint only;
-- the sweeper finds anything a lost notification missed. One hint per transaction.
CREATE OR REPLACE FUNCTION missions_step_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('opscore_steps', '');  -- one hint per transaction
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
