-- Relevance-first retrieval (memory.retrieval explains the rules): the memories an agent may
-- read that match at least one query term, scored BM25-style, best first.
--
-- Candidates: for each term, at most p_per_term of the newest readable active memories that
-- match it (so a rare term's few matches are never crowded out by a common term's many), found
-- through the partial GIN index. Each term is looked up with EXECUTE so the planner sees the
-- term itself: a rare one walks the GIN index, a common one walks the primary key backwards and
-- stops early. The same lookup counts the term's document frequency, capped at p_df_cap (past
-- that a term is common, and how common no longer matters).
--
-- Score: for each matched term, idf × tf(k1 + 1) / (tf + k1(1 − b + b·len/avglen)) with
-- k1 = 1.2, b = 0.75; tf is 2 where the title or subject key holds the term (weight A), 1 where
-- only the body does, halved where the memory holds the word only through its stem, not as
-- written (`exact_words`, unstemmed): "customers" counts fully in "customers", half in "customer";
-- len is the number of distinct lexemes. Confidence calibrates the score by
-- at most ±5 % and, with recency, breaks ties: it never outranks relevance.
DROP FUNCTION IF EXISTS memory_retrieve(text, text[], text[], integer, integer, integer);

CREATE OR REPLACE FUNCTION memory_retrieve(p_agent text, p_terms text[], p_per_term integer,
                                           p_df_cap integer, p_limit integer)
RETURNS TABLE (id bigint, kind text, scope text, subject_key text, visibility text,
               confidence numeric, content text, created_at timestamptz,
               score double precision, matched text[])
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    term text;
    tq tsquery;
    queries tsquery[] := '{}';
    exacts tsquery[] := '{}';
    labels text[] := '{}';
    dfs integer[] := '{}';
    candidates bigint[] := '{}';
    found bigint[];
    df integer;
    n_docs double precision;
BEGIN
    FOREACH term IN ARRAY p_terms LOOP
        tq := plainto_tsquery('english', term);
        CONTINUE WHEN numnode(tq) = 0 OR tq = ANY(queries);
        EXECUTE 'SELECT count(*)::integer,
                        (array_agg(s.id ORDER BY s.id DESC) FILTER (WHERE s.readable))[1:$3]
                 FROM (SELECT m.id,
                              (m.visibility = ''shared'' OR m.agent_id = $2)
                              AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                              AS readable
                       FROM memory_memory m
                       WHERE m.status = ''active'' AND m.search @@ $1
                       ORDER BY m.id DESC LIMIT $4) AS s'
            INTO df, found USING tq, p_agent, p_per_term, p_df_cap;
        queries := queries || tq;
        exacts := exacts || plainto_tsquery('simple', term);
        labels := labels || term;
        dfs := dfs || df;
        candidates := candidates || coalesce(found, '{}');
    END LOOP;
    IF cardinality(candidates) = 0 THEN
        RETURN;
    END IF;
    -- N for idf: the planner's row estimate, or an exact count where the store is small (or
    -- was never analysed) and counting costs less than a wrong idf.
    SELECT c.reltuples INTO n_docs FROM pg_class c WHERE c.oid = 'memory_memory'::regclass;
    IF n_docs < 10000 THEN
        SELECT count(*) INTO n_docs FROM memory_memory m WHERE m.status = 'active';
    END IF;
    n_docs := greatest(n_docs, (SELECT max(d) FROM unnest(dfs) AS d), cardinality(candidates));
    RETURN QUERY
    WITH terms AS (
        SELECT u.q, u.exact, u.label, ln(1 + (n_docs - u.df + 0.5) / (u.df + 0.5)) AS idf
        FROM unnest(queries, exacts, labels, dfs) AS u(q, exact, label, df)
    ), pool AS (
        SELECT m.id, m.type, m.scope, m.subject_key, m.visibility, m.confidence, m.content,
               m.created_at, m.search, m.exact_words, ts_filter(m.search, '{a}') AS headline,
               length(m.search)::float8 AS len
        FROM memory_memory m
        WHERE m.id = ANY(candidates) AND m.status = 'active'
          AND (m.visibility = 'shared' OR m.agent_id = p_agent)
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
    ), average AS (
        SELECT greatest(avg(pool.len), 1) AS len FROM pool
    ), scored AS (
        SELECT p.*, s.relevance * (0.95 + 0.1 * (p.confidence::float8 - 0.5)) AS score, s.matched
        FROM pool p CROSS JOIN average a, LATERAL (
            SELECT sum(t.idf * f.tf * 2.2 / (f.tf + 1.2 * (0.25 + 0.75 * p.len / a.len))) AS relevance,
                   array_agg(t.label ORDER BY t.label) AS matched
            FROM terms t, LATERAL (
                SELECT CASE WHEN p.headline @@ t.q THEN 2
                            WHEN p.search @@ t.q THEN 1 ELSE 0 END
                       * CASE WHEN p.exact_words @@ t.exact THEN 1 ELSE 0.5 END AS tf
            ) AS f
            WHERE f.tf > 0
        ) AS s
        WHERE s.relevance > 0
    )
    SELECT s.id, s.type::text, s.scope::text, s.subject_key::text, s.visibility::text,
           s.confidence, s.content, s.created_at, s.score, s.matched
    FROM scored s
    ORDER BY s.score DESC, s.confidence DESC, s.created_at DESC, s.id DESC
    LIMIT p_limit;
END
$$;
