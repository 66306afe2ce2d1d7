"""What a model call said and heard, kept whole (compressed) so it can be read and replayed;
and the replays themselves.

The record is a row of its own, beside the LLMCall it belongs to: accounting keeps every
LLMCall for ever, while the bodies are pruned by retention. A pruned record keeps its row,
with when and why, so a replay can say which call is missing instead of inventing one.
"""

import json
import zlib

from django.db import models
from django.db.models.functions import Now

from opscore.models.llm_calls import LLMCall


def pack(document: dict) -> bytes:
    """Canonical JSON (sorted keys) so one conversation compresses to the same bytes twice."""
    return zlib.compress(json.dumps(document, sort_keys=True).encode(), 6)


def unpack(blob) -> dict | None:
    return None if blob is None else json.loads(zlib.decompress(bytes(blob)))


class LLMCallRecordQuerySet(models.QuerySet):
    def kept(self):
        return self.filter(pruned_at__isnull=True)

    def older_than(self, moment):
        return self.kept().filter(created_at__lt=moment)


class LLMCallRecord(models.Model):
    """The request as sent (system, messages, tools, parameters) and the reply as received (or
    the error), both redacted by the events' rules, zlib-compressed canonical JSON."""

    call = models.OneToOneField(
        LLMCall, on_delete=models.CASCADE, primary_key=True, related_name="record"
    )
    request_z = models.BinaryField(null=True)
    reply_z = models.BinaryField(null=True)
    size_bytes = models.PositiveIntegerField(default=0, help_text="compressed, both bodies")
    pruned_at = models.DateTimeField(null=True, blank=True)
    pruned_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    objects = LLMCallRecordQuerySet.as_manager()

    class Meta:
        indexes = [
            # Retention walks the kept records oldest first; pruned ones leave this index.
            models.Index(
                fields=["created_at"],
                condition=models.Q(pruned_at__isnull=True),
                name="llmrec_kept_idx",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pruned_at__isnull=True) | ~models.Q(pruned_reason=""),
                name="llmrec_pruned_has_reason",
            )
        ]

    def __str__(self):
        return f"record of call {self.call_id}"

    @property
    def request(self) -> dict | None:
        return unpack(self.request_z)

    @property
    def reply(self) -> dict | None:
        return unpack(self.reply_z)

    def prune(self, reason: str) -> None:
        self.request_z = self.reply_z = None
        self.size_bytes, self.pruned_reason = 0, reason[:200]
        self.pruned_at = Now()
        self.save(
            update_fields=["request_z", "reply_z", "size_bytes", "pruned_at", "pruned_reason"]
        )


class ReplayMode(models.TextChoices):
    RECORDED = "recorded", "recorded (answers from the record: offline, $0)"
    LIVE = "live", "live (re-asks the configured provider)"


class ReplayOutcome(models.TextChoices):
    IDENTICAL = "identical"
    DIVERGED = "diverged"
    MISSING = "missing", "missing (a record was pruned or never kept)"
    STOPPED = "stopped", "stopped (deadline or call limit)"
    FAILED = "failed"


class ReplayRun(models.Model):
    """One replay of a mission or conversation: written after the replay's own transaction was
    rolled back, so it is the only row a replay leaves."""

    subject = models.CharField(max_length=20, help_text="mission or conversation")
    subject_id = models.BigIntegerField()
    mode = models.CharField(max_length=10, choices=ReplayMode.choices)
    outcome = models.CharField(max_length=10, choices=ReplayOutcome.choices)
    calls = models.PositiveIntegerField(default=0, help_text="calls replayed")
    diverged_at = models.ForeignKey(
        LLMCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    report = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["subject", "subject_id"], name="replayrun_subject_idx")]

    def __str__(self):
        return f"replay of {self.subject} {self.subject_id}: {self.outcome}"
