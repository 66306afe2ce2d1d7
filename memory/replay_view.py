"""The memories as a recorded call read them, for a replay: inside its rolled-back transaction
only, the store is made to look as it did at the moment of each call it replays — what was
learned at or after that moment is hidden, what was retired since (superseded, archived, made
stale or expired) is active again, and a confidence that calibration moved since is put back.

The replay moves forward call by call, so the view is recomputed each time from a snapshot of
the rows as they really are (a temporary table, dropped with the transaction). Only rows that
changed since the first call can differ, so only those are kept. A memory retired before the
moment stays retired; one whose calibration log no longer reaches that far back keeps the
oldest confidence the log still shows. A calibration is dated by when it moved the confidence
(its entry's `at`); an entry written before that was kept is dated by the ending it learned
from, its `event`.
"""

from django.db import connection

SNAPSHOT = "memory_as_recorded"
TAKE = f"""
DROP TABLE IF EXISTS {SNAPSHOT};
CREATE TEMP TABLE {SNAPSHOT} ON COMMIT DROP AS
SELECT * FROM (
    SELECT m.id, m.status, m.valid_to, m.expires_at, m.confidence, m.created_at,
           coalesce((SELECT jsonb_agg(jsonb_build_object('at', moved.at, 'from', moved.was)
                                      ORDER BY moved.n)
                     FROM (SELECT l.n, l.entry -> 'from' AS was,
                                  coalesce((l.entry ->> 'at')::timestamptz, e.created_at) AS at
                           FROM jsonb_array_elements(m.calibration_log)
                                WITH ORDINALITY AS l(entry, n)
                           LEFT JOIN opscore_event e
                             ON e.id = CASE WHEN jsonb_typeof(l.entry -> 'event') = 'number'
                                            THEN (l.entry ->> 'event')::bigint END) AS moved
                     WHERE moved.at >= %(first)s), '[]'::jsonb) AS rewinds
    FROM memory_memory m
    WHERE m.created_at >= %(first)s OR m.valid_to >= %(first)s OR m.expires_at >= %(first)s
       OR m.calibration_log <> '[]'::jsonb
) AS changed
-- a memory calibrated only before the first call is as it was: left out, never rewritten
WHERE changed.created_at >= %(first)s OR changed.valid_to >= %(first)s
   OR changed.expires_at >= %(first)s OR changed.rewinds <> '[]'::jsonb;
"""
# What one snapshot row looked like at %(at)s: hidden if learned since, active if retired since.
THEN = """
CASE WHEN s.created_at >= %(at)s THEN 'expired'
     WHEN s.status <> 'active' AND s.valid_to >= %(at)s THEN 'active'
     ELSE s.status END
"""
APPLY = f"""
UPDATE memory_memory m SET
    status = {THEN},
    valid_to = CASE WHEN s.created_at < %(at)s AND s.valid_to >= %(at)s THEN NULL
                    ELSE s.valid_to END,
    expires_at = CASE WHEN s.created_at >= %(at)s THEN %(at)s
                      WHEN s.expires_at >= %(at)s THEN NULL ELSE s.expires_at END,
    confidence = coalesce((SELECT (r ->> 'from')::numeric FROM jsonb_array_elements(s.rewinds) r
                           WHERE (r ->> 'at')::timestamptz >= %(at)s LIMIT 1), s.confidence)
FROM {SNAPSHOT} s
WHERE m.id = s.id AND ({THEN} = 'active') = %(activating)s
"""


class MemoriesThen:
    """Registered as the memory lane's as-of view (opscore.replay.AS_OF): built at the first
    call's moment, then moved to each call's."""

    def __init__(self, first):
        with connection.cursor() as cursor:
            cursor.execute(TAKE, {"first": first})
        self.at(first)

    def at(self, moment) -> None:
        """Retire first, then activate: one active row per dedupe key holds at every step."""
        with connection.cursor() as cursor:
            for activating in (False, True):
                cursor.execute(APPLY, {"at": moment, "activating": activating})
