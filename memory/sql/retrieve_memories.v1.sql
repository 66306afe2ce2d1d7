-- The three retrieval buckets in one call (memory.retrieval explains the rules).
-- Each source walks its own partial index in (confidence, recency) order, at most p_walk rows
-- (more than the caps let a source hold), and keeps its 4 best rows plus up to p_pool rows that
-- match the query. A matching memory outranks any that does not; then full-text rank plus
-- half the confidence, then recency. Cost is bounded whatever the store holds.
-- The plan is cached per connection; bitmap scans are off so a common word cannot turn a
-- short index walk into ranking every matching row.
CREATE OR REPLACE FUNCTION memory_retrieve(p_agent text, p_keys text[], p_words text[], p_pool integer, p_walk integer,
                                           p_per_bucket integer)
RETURNS TABLE (bucket integer, id bigint, kind text, scope text, visibility text,
               confidence numeric, content text, created_at timestamptz, score double precision)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off
AS $$
DECLARE
    q tsquery;
    word text;
    walk integer := 4;  -- with no query the 4 best rows are all a source gives
BEGIN
    FOREACH word IN ARRAY p_words LOOP
        q := CASE WHEN q IS NULL THEN plainto_tsquery('english', word)
                  ELSE q || plainto_tsquery('english', word) END;
    END LOOP;
    IF numnode(q) > 0 THEN
        walk := p_walk;
    END IF;
    RETURN QUERY
    WITH pool AS (
        (SELECT 0 AS b, t.* FROM (
            SELECT w.*, row_number() OVER (ORDER BY w.confidence DESC, w.created_at DESC, w.id DESC) AS rn
            FROM (SELECT m.* FROM memory_memory m
                  WHERE m.status = 'active' AND m.scope = 'agent' AND m.agent_id = p_agent
                    AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                    AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                  ORDER BY m.confidence DESC, m.created_at DESC, m.id DESC LIMIT walk) AS w
        ) AS t WHERE t.rn <= 4 OR (q IS NOT NULL AND (t.search @@ q) IS TRUE) LIMIT 4 + p_pool)
        UNION ALL
        (SELECT 0 AS b, t.* FROM unnest(p_keys) AS k(key), LATERAL (
            SELECT t.* FROM (
                SELECT w.*, row_number() OVER (ORDER BY w.confidence DESC, w.created_at DESC, w.id DESC) AS rn
                FROM (SELECT m.* FROM memory_memory m
                      WHERE m.status = 'active' AND m.scope IN ('project', 'person', 'service') AND m.subject_key = k.key
                        AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                        AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                      ORDER BY m.confidence DESC, m.created_at DESC, m.id DESC LIMIT walk) AS w
            ) AS t WHERE t.rn <= 4 OR (q IS NOT NULL AND (t.search @@ q) IS TRUE) LIMIT 4 + p_pool) AS t)
        UNION ALL
        (SELECT 1 AS b, t.* FROM (
            SELECT w.*, row_number() OVER (ORDER BY w.confidence DESC, w.created_at DESC, w.id DESC) AS rn
            FROM (SELECT m.* FROM memory_memory m
                  WHERE m.status = 'active' AND m.type IN ('lesson', 'playbook', 'constraint') AND m.agent_id = p_agent
                    AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                    AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                  ORDER BY m.confidence DESC, m.created_at DESC, m.id DESC LIMIT walk) AS w
        ) AS t WHERE t.rn <= 4 OR (q IS NOT NULL AND (t.search @@ q) IS TRUE) LIMIT 4 + p_pool)
        UNION ALL
        (SELECT 1 AS b, t.* FROM (
            SELECT w.*, row_number() OVER (ORDER BY w.confidence DESC, w.created_at DESC, w.id DESC) AS rn
            FROM (SELECT m.* FROM memory_memory m
                  WHERE m.status = 'active' AND m.type IN ('lesson', 'playbook', 'constraint') AND m.scope IN ('service', 'global')
                    AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                    AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                  ORDER BY m.confidence DESC, m.created_at DESC, m.id DESC LIMIT walk) AS w
        ) AS t WHERE t.rn <= 4 OR (q IS NOT NULL AND (t.search @@ q) IS TRUE) LIMIT 4 + p_pool)
        UNION ALL
        (SELECT 2 AS b, t.* FROM (
            SELECT w.*, row_number() OVER (ORDER BY w.confidence DESC, w.created_at DESC, w.id DESC) AS rn
            FROM (SELECT m.* FROM memory_memory m
                  WHERE m.status = 'active' AND m.scope = 'global' AND m.type IN ('decision', 'preference', 'constraint')
                    AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                    AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                  ORDER BY m.confidence DESC, m.created_at DESC, m.id DESC LIMIT walk) AS w
        ) AS t WHERE t.rn <= 4 OR (q IS NOT NULL AND (t.search @@ q) IS TRUE) LIMIT 4 + p_pool)
    )
    SELECT r.b, r.id, r.kind, r.scope, r.visibility, r.confidence, r.content, r.created_at,
           r.score
    FROM (
        SELECT p.b, p.id, p.type::text AS kind, p.scope::text AS scope,
               p.visibility::text AS visibility, p.confidence, p.content, p.created_at,
               sc.score,
               row_number() OVER (PARTITION BY p.b
                                  ORDER BY sc.score DESC, p.created_at DESC, p.id DESC) AS place
        FROM pool p,
             LATERAL (SELECT CASE WHEN (p.search @@ q) IS TRUE THEN 1 + ts_rank(p.search, q)
                                  ELSE 0 END + p.confidence::float8 * 0.5 AS score) AS sc
    ) AS r
    WHERE r.place <= p_per_bucket
    ORDER BY r.b, r.place;
END
$$;
