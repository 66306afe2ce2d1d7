-- A memory is used when a recorded LLM call carried it: counted in the transaction that writes
-- the call's row, so the count is exactly the calls that name it and the prompt path pays no
-- round trip or commit of its own.
CREATE OR REPLACE FUNCTION memory_count_use() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memory_memory
    SET use_count = use_count + 1, last_used_at = statement_timestamp()
    WHERE id IN (
        SELECT value::bigint
        FROM jsonb_array_elements_text(NEW.injected -> 'memory_ids')
        WHERE value ~ '^[0-9]{1,18}$'
    );
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS opscore_llmcall_counts_memory_use ON opscore_llmcall;

CREATE TRIGGER opscore_llmcall_counts_memory_use
AFTER INSERT ON opscore_llmcall
FOR EACH ROW WHEN (jsonb_typeof(NEW.injected -> 'memory_ids') = 'array')
EXECUTE FUNCTION memory_count_use();
