-- Relevance-first retrieval (memory.retrieval explains the rules): the memories an agent may
-- read that match at least one query term, scored BM25-style, best first.
--
-- Candidates: for each term, at most p_per_term of the newest readable active memories that
-- match it (so a rare term's few matches are never crowded out by a common term's many). A
-- term among the column's most common lexemes (memory_common_lexeme: what ANALYZE found, in
-- pg_stats, copied there now and then) has its document frequency from them and
-- walks the primary key backwards, stopping at p_per_term; any other term is found through the
-- partial GIN index, which also counts its document frequency, capped at p_df_cap (past that a
-- term is common, and how common no longer matters).
--
-- Score: for each matched term, idf × tf(k1 + 1) / (tf + k1(1 − b + b·len/avglen)) with
-- k1 = 1.2, b = 0.75; tf is 2 where the title or subject key holds the term (weight A), 1 where
-- only the body does, halved where the memory holds the word only through its stem, not as
-- written (`exact_words`, unstemmed): "customers" counts fully in "customers", half in "customer";
-- len is the number of distinct lexemes a query can match. Confidence calibrates the score by
-- at most ±5 % and, with recency, breaks ties: it never outranks relevance.
--
-- v5: only what a prompt needs, in the one round trip a prompt pays: each row says whether it
-- carries p_hidden_tag (the caller's offline tag, which a real model is never served: no second
-- query to find those), a row scoring below p_floor of the best is never sent (it would only be
-- dropped), and neither are the columns no prompt reads (subject key, visibility, created at).
--
-- v6: a memory's length counts only words a query can hold: p_unsearched (the lexemes of the
-- function and envelope words memory.retrieval never searches for, which it stems once per
-- process) are left out of it, as they are out of the query.
-- Postgres' own stop list is shorter ('since', 'also', 'must' are lexemes to it), so a memory
-- saying "since" used to count as longer than its twin, for a word no query ever matches.
--
-- v7 (issue 32): a call carries only the query. What ANALYZE found common is kept in the
-- database (memory_common_lexeme, which memory_learn_common_lexemes copies from pg_stats now
-- and then) and looked up per term by its lexemes: a store's thousand common lexemes and their
-- frequencies were sent, parsed and joined on every call. The unsearched words' lexemes are
-- memory_unsearched_lexemes(), immutable, so the plan holds them as a constant. A term's tf is
-- a float, and the terms are materialised once, not unnested again for every candidate.
--
-- v8 (issue 32): a store with statistics finds every term's candidates in one statement, not
-- three per term (its tsquery, its frequency, its matches: each a statement of their own, and
-- their overhead was most of the loop's cost), with the same per-term rules and plans: a common
-- term walks the primary key, a rarer one the GIN index. The exact count of a small store keeps
-- the loop (each term planned for itself). A term no memory holds (df 0) is left out of the
-- scoring, where it could only miss, and a term's tf is computed once per memory (it was
-- written out three times: the filter, and twice in the sum).
--
-- v9 (issue 32): the scoring's cost per candidate, which is most of a call's: each memory's
-- matched terms are gathered in the terms' order (sorted once per call, not once per memory:
-- a sort per candidate was a tenth of the scoring), and whether it carries the hidden tag is
-- one key test (`?`), not a containment against an array built again for every row.
--
-- v10 (issue 32): a candidate's headline (its weight-A lexemes) and searchable length are stored
-- columns (memory.models.memories: headline, searchable_length), read with the row: ts_filter
-- and ts_delete ran for every candidate of every call.
--
-- v11 (issue 32): common terms share one walk and one budget. Each common term walked the
-- primary key for its own p_per_term / 4 newest matches, so a context of three common words
-- read some 370 rows and scored 45 candidates, two thirds of a call's cost, for terms whose
-- low idf rarely lifts a match into the result. Now the newest p_per_term / 4 readable memories
-- that match any of them (the OR of their queries) are the candidates they bring: one walk,
-- a third of the rows, and a memory matching several of them still scores for each. A rare
-- term keeps its own p_per_term candidates, found and counted through the GIN index.
--
-- v12 (issue 32): a lexeme's frequency is looked up by memory_common_lexeme's key, always: with
-- a small vocabulary's few rows there the planner read them all for each lexeme (a sequential
-- scan per lexeme, a tenth of a call on the bench's store), and one join of all the lexemes,
-- tried instead, read all of a large vocabulary's thousand for every call; every read here is
-- by key or through an index, so sequential scans are off in this function. The terms' arrays
-- are gathered unsorted (only their alignment matters: the scoring orders the terms itself,
-- the candidates are a set), the largest df comes with them rather than from a query of its
-- own, a rare term's matches reach its aggregate already in order, the pool's average length
-- and the best score are windows rather than second scans, a candidate's tf for each term is
-- one subquery over the terms rather than a lateral join per term, and the confidence's
-- calibration is computed once per row. Same rows, scores and order; callgrind (postgres
-- --single, 60 − 10 calls): 2.67 → 2.34 M instructions a call on the bench's store (24 common
-- lexemes), 2.55 → 2.40 M with 1,000 (as ANALYZE keeps for a large vocabulary).
--
-- v13: a row carrying p_hidden_tag is left out of the pool, not only flagged: it was the best
-- score, so a real model's one readable match fell below p_floor of it and was never sent, and
-- the slot stayed empty for a memory that model is never served. The offline provider, which is
-- served those rows, passes an empty tag (no row carries it).
CREATE TABLE IF NOT EXISTS memory_common_lexeme (
    lexeme text PRIMARY KEY,
    freq real NOT NULL
);

-- The search column's most common lexemes as ANALYZE last found them (pg_stats), copied into
-- memory_common_lexeme: rows change only where the statistics did, so a call that finds
-- nothing new writes nothing. One session at a time (the others keep what is there). Returns
-- how many lexemes are known.
CREATE OR REPLACE FUNCTION memory_learn_common_lexemes() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    known integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('memory_common_lexeme')) THEN
        RETURN (SELECT count(*) FROM memory_common_lexeme);
    END IF;
    WITH analysed AS (
        SELECT c.lexeme, c.freq
        FROM pg_stats s,
             unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS c(lexeme, freq)
        WHERE s.schemaname = current_schema() AND s.tablename = 'memory_memory'
          AND s.attname = 'search' AND c.lexeme IS NOT NULL
    ), gone AS (
        DELETE FROM memory_common_lexeme k
        WHERE NOT EXISTS (SELECT 1 FROM analysed a WHERE a.lexeme = k.lexeme)
    ), changed AS (
        INSERT INTO memory_common_lexeme AS k (lexeme, freq)
        SELECT a.lexeme, a.freq FROM analysed a
        ON CONFLICT (lexeme) DO UPDATE SET freq = excluded.freq
        WHERE k.freq IS DISTINCT FROM excluded.freq
    )
    SELECT count(*) INTO known FROM analysed;
    RETURN known;
END
$$;

-- The lexemes of the function and envelope words memory.retrieval never searches for (its
-- IGNORED, word for word: a test keeps the two lists equal): left out of a memory's length.
CREATE OR REPLACE FUNCTION memory_unsearched_lexemes() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT tsvector_to_array(to_tsvector('english',
        'a about after all also an and any are as at be been before but by can could
         details did do does evidence false for from given had has have how i if in
         instruction instructions into is it its may me might more most must my no none
         not null of on or our out over payload please should since so some such than
         that the their them then there these they this those to topic true up us was we
         were what when where which while who why will with would you your'))
$$;

CREATE OR REPLACE FUNCTION memory_retrieve(p_agent text, p_terms text[], p_per_term integer,
                                           p_df_cap integer, p_limit integer,
                                           p_floor double precision, p_hidden_tag text)
RETURNS TABLE (id bigint, kind text, scope text, confidence numeric, content text,
               score double precision, matched text[], hidden boolean)
LANGUAGE plpgsql STABLE
-- Every statement below is planned once per session: planning them per call (per term) cost
-- more than running them. The lookups are written so one plan fits every term. Every read is by
-- key or through an index: a sequential scan is only ever the planner's guess for a small table
-- (memory_common_lexeme), read whole once per lexeme.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
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
    max_df integer;
    n_docs double precision;
BEGIN
    -- N for idf: the planner's row estimate, or an exact count where the store is small (or
    -- was never analysed) and counting costs less than a wrong idf.
    SELECT c.reltuples INTO n_docs FROM pg_class c WHERE c.oid = 'memory_memory'::regclass;
    IF n_docs < 10000 THEN
        SELECT count(*) INTO n_docs FROM memory_memory m WHERE m.status = 'active';
    END IF;
    IF n_docs >= 10000 AND EXISTS (SELECT 1 FROM memory_common_lexeme) THEN
        -- Each distinct term once, in the order given; a term every lexeme of which is common
        -- has its frequency (at most its rarest lexeme's), and the common terms together walk
        -- the primary key backwards for the newest readable memories matching any of them
        -- (IS TRUE keeps the GIN index, useless for a term in a third of the rows, out of the
        -- plan; a quarter of p_per_term in all: among thousands of matches the newest are no
        -- better than others, and a common term's low idf rarely lifts one into the result).
        -- Any other term is found through the partial GIN index,
        -- which also counts its document frequency up to p_df_cap (ordering by id + 0 keeps the
        -- primary-key walk, which would read the whole table for a rare term, out of it).
        WITH given AS (
            SELECT u.term, u.n, plainto_tsquery('english', u.term) AS q
            FROM unnest(p_terms) WITH ORDINALITY AS u(term, n)
        ), firsts AS MATERIALIZED (
            SELECT DISTINCT ON (g.q) g.term, g.n, g.q, c.freq
            FROM given g, LATERAL (
                SELECT CASE WHEN count(k.freq) = count(*) THEN min(k.freq) END AS freq
                FROM unnest(tsvector_to_array(to_tsvector('english', g.term))) AS l(lexeme),
                     LATERAL (SELECT (SELECT c.freq FROM memory_common_lexeme c
                                      WHERE c.lexeme = l.lexeme) AS freq) AS k
            ) AS c
            WHERE numnode(g.q) > 0
            ORDER BY g.q, g.n
        ), rare AS MATERIALIZED (
            SELECT f.n, r.df, r.ids
            FROM firsts f, LATERAL (
                SELECT count(*)::integer AS df,
                       coalesce((array_agg(s.id ORDER BY s.id DESC)
                                 FILTER (WHERE s.readable))[1:p_per_term], '{}') AS ids
                FROM (SELECT m.id + 0 AS id,
                             (m.visibility = 'shared' OR m.agent_id = p_agent)
                             AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                             AS readable
                      FROM memory_memory m
                      WHERE m.status = 'active' AND m.search @@ f.q
                      ORDER BY 1 DESC LIMIT p_df_cap) AS s
            ) AS r
            WHERE f.freq IS NULL
        ), common AS MATERIALIZED (
            SELECT string_agg('(' || f.q::text || ')', ' | ')::tsquery AS q
            FROM firsts f WHERE f.freq IS NOT NULL
            HAVING count(*) > 0
        ), walked AS MATERIALIZED (
            SELECT coalesce(array_agg(s.id), '{}') AS ids
            FROM common c, LATERAL (
                SELECT m.id FROM memory_memory m
                WHERE m.status = 'active' AND (m.search @@ c.q) IS TRUE
                  AND (m.visibility = 'shared' OR m.agent_id = p_agent)
                  AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
                ORDER BY m.id DESC LIMIT greatest(p_per_term / 4, 1)) AS s
        )
        SELECT array_agg(f.q), array_agg(plainto_tsquery('simple', f.term)), array_agg(f.term),
               array_agg(coalesce(ceil(f.freq * n_docs)::integer, x.df)),
               max(coalesce(ceil(f.freq * n_docs)::integer, x.df)),
               (SELECT coalesce(array_agg(i.id), '{}') FROM rare, unnest(rare.ids) AS i(id))
               || coalesce((SELECT w.ids FROM walked w), '{}')
        INTO queries, exacts, labels, dfs, max_df, candidates
        FROM firsts f LEFT JOIN rare x ON x.n = f.n;
    ELSE
        -- A small store (counted exactly), or no statistics yet: the planner sees each term
        -- itself and walks the GIN index for a rare one, the primary key for a common one.
        FOREACH term IN ARRAY p_terms LOOP
            tq := plainto_tsquery('english', term);
            CONTINUE WHEN numnode(tq) = 0 OR tq = ANY(queries);
            EXECUTE 'SELECT count(*)::integer,
                            (array_agg(s.id ORDER BY s.id DESC) FILTER (WHERE s.readable))[1:$3]
                     FROM (SELECT m.id,
                                  (m.visibility = ''shared'' OR m.agent_id = $2)
                                  AND (m.expires_at IS NULL
                                       OR m.expires_at > statement_timestamp()) AS readable
                           FROM memory_memory m
                           WHERE m.status = ''active'' AND m.search @@ $1
                           ORDER BY m.id DESC LIMIT $4) AS s'
                INTO df, found USING tq, p_agent, p_per_term, p_df_cap;
            queries := queries || tq;
            exacts := exacts || plainto_tsquery('simple', term);
            labels := labels || term;
            dfs := dfs || df;
            max_df := greatest(max_df, df);
            candidates := candidates || coalesce(found, '{}');
        END LOOP;
    END IF;
    IF coalesce(cardinality(candidates), 0) = 0 THEN
        RETURN;
    END IF;
    n_docs := greatest(n_docs, max_df, cardinality(candidates));
    RETURN QUERY
    WITH terms AS MATERIALIZED (
        SELECT u.q, u.exact, u.label, ln(1 + (n_docs - u.df + 0.5) / (u.df + 0.5)) AS idf
        FROM unnest(queries, exacts, labels, dfs) AS u(q, exact, label, df)
        WHERE u.df > 0
        ORDER BY u.label
    ), pool AS (
        SELECT m.id, m.type, m.scope, m.confidence, m.content, m.created_at, m.search, m.exact_words, m.headline,
               coalesce(m.tags ? p_hidden_tag, false) AS hidden,
               m.searchable_length::float8 AS len,
               0.95 + 0.1 * (m.confidence::float8 - 0.5) AS calibration,
               greatest(avg(m.searchable_length::float8) OVER (), 1) AS avg_len
        FROM memory_memory m
        WHERE m.id = ANY(candidates) AND m.status = 'active'
          AND (m.visibility = 'shared' OR m.agent_id = p_agent)
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
          AND NOT coalesce(m.tags ? p_hidden_tag, false)
    ), scored AS (
        SELECT p.*, s.relevance * p.calibration AS score, s.matched
        FROM pool p, LATERAL (
            SELECT sum(f.idf * f.tf * 2.2 / (f.tf + 1.2 * (0.25 + 0.75 * p.len / p.avg_len))) AS relevance,
                   array_agg(f.label) AS matched
            FROM (SELECT t.idf, t.label,
                         CASE WHEN p.headline @@ t.q THEN 2.0::float8
                              WHEN p.search @@ t.q THEN 1.0::float8 ELSE 0.0::float8 END
                         * CASE WHEN p.exact_words @@ t.exact THEN 1.0::float8 ELSE 0.5::float8 END
                         AS tf
                  FROM terms t
                  OFFSET 0) AS f
            WHERE f.tf > 0
        ) AS s
        WHERE s.relevance > 0
    )
    SELECT b.id, b.type::text, b.scope::text, b.confidence, b.content, b.score, b.matched, b.hidden
    FROM (SELECT s.*, max(s.score) OVER () AS best FROM scored s) AS b
    WHERE b.score >= p_floor * b.best
    ORDER BY b.score DESC, b.confidence DESC, b.created_at DESC, b.id DESC
    LIMIT p_limit;
END
$$;
