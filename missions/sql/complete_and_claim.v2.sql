-- Record a success and claim the worker's next step in one round trip and one commit.
DROP FUNCTION IF EXISTS opscore_complete_and_claim(bigint, uuid, jsonb, text, double precision);
CREATE OR REPLACE FUNCTION opscore_complete_and_claim(p_step bigint, p_token uuid, p_result jsonb,
                                           p_worker text, p_lease_seconds double precision,
                                           p_internal text[])
RETURNS SETOF missions_step
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT opscore_complete_step(p_step, p_token, p_result) THEN
        RAISE EXCEPTION 'lease lost for step %', p_step USING ERRCODE = 'OPS01';
    END IF;
    RETURN QUERY SELECT * FROM opscore_claim_step(p_worker, p_lease_seconds, p_internal);
END;
$$;
