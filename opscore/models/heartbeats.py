"""ActionRun: one row per heartbeat."""

from django.db import models
from django.db.models.functions import Now


class ActionRunStatus(models.TextChoices):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial", "partial (a duty failed)"
    SKIPPED = "skipped"


class ActionRun(models.Model):
    """One row per heartbeat: every duty's outcome, counts and duration, or why it was skipped."""

    trigger = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=ActionRunStatus.choices)
    duties = models.JSONField(default=list)
    reason = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(db_default=Now())
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"heartbeat #{self.id} {self.status}"

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "trigger": self.trigger,
            "status": self.status,
            "reason": self.reason,
            "duties": self.duties,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
        }
