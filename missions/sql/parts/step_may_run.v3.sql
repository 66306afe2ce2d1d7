AND NOT EXISTS (
    SELECT 1 FROM opscore_policy p
    WHERE p.key IN ('worker_switches', 'lane_switches')
      AND CASE p.key WHEN 'worker_switches' THEN p.value -> 'kinds' -> s.kind = 'false'
                     ELSE p.value -> 'held_kinds' @> to_jsonb(s.kind) END OFFSET 0)
AND NOT EXISTS (
    SELECT 1 FROM missions_stepdependency d
    JOIN missions_step p ON p.id = d.depends_on_id
    WHERE d.step_id = s.id AND p.status <> 'succeeded' OFFSET 0)
