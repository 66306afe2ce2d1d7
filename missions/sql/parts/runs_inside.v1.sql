-- A step only Opscore's workers run, whoever its agent is: its kind is in p_internal, or
-- p_internal holds `kind?key` and its payload has that key (a deploy naming a coding run).
(s.kind = ANY(p_internal)
 OR EXISTS (SELECT FROM unnest(p_internal) AS i(marker)
            WHERE starts_with(i.marker, s.kind || '?')
              AND s.payload ? substr(i.marker, length(s.kind) + 2)))
