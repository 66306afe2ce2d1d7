-- The rules every step row keeps (its CHECK constraint step_row_valid): whole numbers in range
-- (priority 1..1000, at least one attempt allowed), a blocked step says why, and a running step
-- holds exactly one lease while any other holds none.
-- A function rather than CHECK expressions: Postgres reads each CHECK of a table back from its
-- stored tree and prepares it again for every statement that writes the table, twice a step on
-- the workers' path, and PL/pgSQL keeps the compiled body for the session. IMMUTABLE: it reads
-- only its argument.
-- v2: handed the whole row (CHECK (missions_step_row_valid(missions_step)), opscore.row_checks)
-- rather than eight columns: the constraint's tree is one reference where it was eight and a
-- cast, and a worker's step costs ~58 k instructions less (callgrind). Django validates a Step
-- through the same function, handed a row built from the fields it reads.
DROP FUNCTION IF EXISTS missions_step_row_valid(
    text, uuid, timestamptz, text, integer, integer, integer, integer);
CREATE OR REPLACE FUNCTION missions_step_row_valid(r missions_step)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN r."position" >= 0 AND r.attempt_count >= 0 AND r.max_attempts >= 1
           AND r.priority BETWEEN 1 AND 1000
           AND (r.status <> 'blocked' OR r.blocked_reason <> '')
           AND CASE WHEN r.status = 'running'
                    THEN r.lease_token IS NOT NULL AND r.lease_expires_at IS NOT NULL
                    ELSE r.lease_token IS NULL AND r.lease_expires_at IS NULL END;
END;
$$;
