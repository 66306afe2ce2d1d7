"""Memory uses not yet counted: what an LLM call carried, waiting for the fold."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now


class PendingUseQuerySet(models.QuerySet):
    def carrying(self, memory_id: int):
        """Calls not yet counted that carried this memory (a scan: the queue holds at most a
        few minutes of calls, and only one memory's page asks)."""
        return self.filter(memory_ids__contains=[memory_id])


class PendingUse(models.Model):
    """One LLM call's memories, written by the call row's trigger (memory/sql/count_memory_use)
    and folded into the memories' use counts by `memory.uses.fold_memory_uses`, which deletes
    it in the same transaction: each call is counted exactly once. Queued rather than counted
    at once, so recording a call writes one narrow row, and takes no lock on a memory a
    calibration or a review may hold. No foreign key to the call: it would be one more lookup
    on the hot path for a row that lives minutes."""

    call_id = models.BigIntegerField()
    memory_ids = ArrayField(models.BigIntegerField())
    used_at = models.DateTimeField(db_default=Now())

    objects = PendingUseQuerySet.as_manager()

    class Meta:
        db_table = "memory_pending_use"

    def __str__(self):
        return f"call {self.call_id}: {len(self.memory_ids)} memories"
