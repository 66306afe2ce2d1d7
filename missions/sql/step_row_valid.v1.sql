-- The rules every step row keeps (its CHECK constraint step_row_valid): whole numbers in range
-- (priority 1..1000, at least one attempt allowed), a blocked step says why, and a running step
-- holds exactly one lease while any other holds none.
-- A function rather than CHECK expressions: Postgres reads each CHECK of a table back from its
-- stored tree and prepares it again for every statement that writes the table, twice a step on
-- the workers' path; the three this replaces came to ~5 KB of tree, a call's is ~1.5 KB, and
-- PL/pgSQL keeps the compiled body for the session. IMMUTABLE: it reads only its arguments.
CREATE OR REPLACE FUNCTION missions_step_row_valid(
    status text, lease_token uuid, lease_expires_at timestamptz, blocked_reason text,
    "position" integer, attempt_count integer, max_attempts integer, priority integer)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN "position" >= 0 AND attempt_count >= 0 AND max_attempts >= 1
           AND priority BETWEEN 1 AND 1000
           AND (status <> 'blocked' OR blocked_reason <> '')
           AND CASE WHEN status = 'running'
                    THEN lease_token IS NOT NULL AND lease_expires_at IS NOT NULL
                    ELSE lease_token IS NULL AND lease_expires_at IS NULL END;
END;
$$;
