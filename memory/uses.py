"""Counting memory uses: a call's row queues the memories it carried (memory_pending_use, by
its trigger); the fold counts the queue into each memory's `use_count` and `last_used_at`.

The heartbeat folds (duty count_memory_uses), and so does whatever decides by use before it
reads (the review of due memories). Between folds a memory's columns lag by at most a beat;
`uses_of` adds what is queued, for the pages that show one memory's count."""

import time

from django.db import connection, transaction

from memory.models import Memory, PendingUse

BATCH = 1000  # calls per statement: a beat's worth on a busy day, in one short transaction


def fold_memory_uses(deadline: float | None = None) -> dict:
    """Count every queued call (batch by batch, until none is left or the deadline passes)."""
    calls = memories = 0
    while deadline is None or time.monotonic() < deadline:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT calls, memories FROM memory_fold_uses(%s)", [BATCH])
            taken, moved = cursor.fetchone()
        calls, memories = calls + taken, memories + moved
        if taken < BATCH:
            break
    return {"calls": calls, "memories": memories}


def uses_of(memory: Memory) -> int:
    """Its count as of now: folded, plus the calls still queued that carried it."""
    return memory.use_count + PendingUse.objects.carrying(memory.id).count()
