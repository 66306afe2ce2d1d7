"""A row per backup, restore drill and restore: what was written, how long it took, what it
proved. A drill that did not run shows up as the standing order's `missed` run, not here."""

from django.db import models
from django.db.models.functions import Now


class BackupKind(models.TextChoices):
    BACKUP = "backup"
    DRILL = "drill", "restore drill"
    RESTORE = "restore"


class BackupStatus(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BackupRun(models.Model):
    kind = models.CharField(max_length=10, choices=BackupKind.choices)
    status = models.CharField(max_length=10, choices=BackupStatus.choices)
    actor = models.CharField(max_length=150)
    path = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    manifest = models.JSONField(
        default=dict, blank=True, help_text="evidence tables at the dump's snapshot: rows, checksum"
    )
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    source = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="drills"
    )
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True, help_text="file removed by retention")

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.kind} {self.id} {self.status}"

    def finish(self, status: str, **fields) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        self.status, self.finished_at = status, Now()
        self.save()
        self.refresh_from_db(fields=["finished_at"])
