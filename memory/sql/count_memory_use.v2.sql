-- A memory is used when a recorded LLM call carried it: counted in the transaction that writes
-- the call's row, so the count is exactly the calls that name it and the prompt path pays no
-- round trip or commit of its own.
-- v2: the memories are locked in id order before they are counted, as every other writer of
-- several memories locks them (memory.calibration): counted in the prompt's order, a call's
-- insert and a step's calibration could each hold a memory the other waited for, and Postgres
-- broke the deadlock by failing the step.
CREATE OR REPLACE FUNCTION memory_count_use() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    used bigint[];
BEGIN
    SELECT array_agg(value::bigint) INTO used
    FROM jsonb_array_elements_text(NEW.injected -> 'memory_ids')
    WHERE value ~ '^[0-9]{1,18}$';
    PERFORM 1 FROM memory_memory WHERE id = ANY(used) ORDER BY id FOR UPDATE;
    UPDATE memory_memory
    SET use_count = use_count + 1, last_used_at = statement_timestamp()
    WHERE id = ANY(used);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS opscore_llmcall_counts_memory_use ON opscore_llmcall;

CREATE TRIGGER opscore_llmcall_counts_memory_use
AFTER INSERT ON opscore_llmcall
FOR EACH ROW WHEN (jsonb_typeof(NEW.injected -> 'memory_ids') = 'array')
EXECUTE FUNCTION memory_count_use();
