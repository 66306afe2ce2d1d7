-- A memory is used when a recorded LLM call carried it. The call's row queues what it carried
-- (memory_pending_use), in the transaction that writes it, so a call rolled back counts nothing;
-- memory_fold_uses counts the queue into the memories.
-- v3 (issue 32): queued, not counted at once. Counting locked and rewrote every carried memory
-- (ten wide rows) in each step's call insert: most of what carrying memories added to a step
-- beyond the retrieval, and a lock a calibration or a review could make the step wait for.
-- v4 (issue 32): an id is one to eighteen digits, as before, checked by ltrim over the digits
-- rather than a regular expression: the regex engine's run over each id was a tenth of what
-- the call's row added to a memory step in the backend (callgrind).
CREATE OR REPLACE FUNCTION memory_count_use() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_pending_use (call_id, memory_ids, used_at)
    SELECT NEW.id, array_agg(value::bigint), statement_timestamp()
    FROM jsonb_array_elements_text(NEW.injected -> 'memory_ids')
    WHERE length(value) BETWEEN 1 AND 18 AND ltrim(value, '0123456789') = ''
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS opscore_llmcall_counts_memory_use ON opscore_llmcall;

CREATE TRIGGER opscore_llmcall_counts_memory_use
AFTER INSERT ON opscore_llmcall
FOR EACH ROW WHEN (jsonb_typeof(NEW.injected -> 'memory_ids') = 'array')
EXECUTE FUNCTION memory_count_use();
