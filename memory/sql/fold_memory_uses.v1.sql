-- Count queued uses (memory_pending_use) into the memories: at most p_limit calls, oldest
-- first, each deleted in the transaction that counts it, so each call counts exactly once.
-- Rows another fold holds are skipped, not waited for; the memories are locked in id order
-- before they are counted, as every writer of several memories locks them
-- (memory.calibration). Returns the calls counted and the memories whose counts moved. A
-- memory retired since keeps counting: its count is history.
CREATE OR REPLACE FUNCTION memory_fold_uses(p_limit integer)
RETURNS TABLE (calls integer, memories integer)
LANGUAGE plpgsql AS $$
DECLARE
    taken integer;
    ids bigint[];
    uses integer[];
    lasts timestamptz[];
    moved integer;
BEGIN
    WITH queued AS (
        DELETE FROM memory_pending_use p
        WHERE p.id IN (SELECT q.id FROM memory_pending_use q ORDER BY q.id
                       FOR UPDATE SKIP LOCKED LIMIT p_limit)
        RETURNING p.memory_ids, p.used_at
    ), per_memory AS (
        SELECT u.id, count(*)::integer AS n, max(q.used_at) AS last_used
        FROM queued q, unnest(q.memory_ids) AS u(id)
        GROUP BY u.id
    )
    SELECT (SELECT count(*)::integer FROM queued), array_agg(pm.id ORDER BY pm.id),
           array_agg(pm.n ORDER BY pm.id), array_agg(pm.last_used ORDER BY pm.id)
    INTO taken, ids, uses, lasts
    FROM per_memory pm;
    PERFORM 1 FROM memory_memory WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
    UPDATE memory_memory m
    SET use_count = m.use_count + u.n, last_used_at = greatest(m.last_used_at, u.last_used)
    FROM unnest(ids, uses, lasts) AS u(id, n, last_used)
    WHERE m.id = u.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN QUERY SELECT taken, moved;
END
$$;
