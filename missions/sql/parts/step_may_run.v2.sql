AND NOT EXISTS (
    SELECT 1 FROM opscore_policy w
    WHERE w.key = 'worker_switches' AND w.value -> 'kinds' -> s.kind = 'false' OFFSET 0)
AND NOT EXISTS (
    SELECT 1 FROM opscore_policy l
    WHERE l.key = 'lane_switches' AND l.value -> 'held_kinds' @> to_jsonb(s.kind) OFFSET 0)
AND NOT EXISTS (
    SELECT 1 FROM missions_stepdependency d
    JOIN missions_step p ON p.id = d.depends_on_id
    WHERE d.step_id = s.id AND p.status <> 'succeeded' OFFSET 0)
