"""Missions: what an approved proposal became, the rows its steps (missions/models/steps.py)
belong to, and the mission's own moves — paused, cancelled, timed out, closed once every step
is terminal."""

from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Now

from missions.models.proposals import Proposal


class MissionStatus(models.TextChoices):
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


MISSION_TERMINAL = [
    MissionStatus.SUCCEEDED,
    MissionStatus.FAILED,
    MissionStatus.CANCELLED,
    MissionStatus.TIMED_OUT,
]


class Mission(models.Model):
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=MissionStatus.choices, default=MissionStatus.APPROVED
    )
    # mission_agent_idx, not db_index: on a text key Django adds a LIKE-prefix twin nothing
    # reads, written again by each of a mission's status changes (none of them HOT).
    agent = models.ForeignKey(
        "opscore.Agent", on_delete=models.PROTECT, related_name="missions", db_index=False
    )
    created_by = models.CharField(max_length=150)
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="mission")
    policy_versions = models.JSONField(
        default=dict, help_text="Policy key → version in force when this mission was approved"
    )
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    # Paused: the claim functions skip its queued steps; running ones finish.
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=500, blank=True)  # opscore.text.MAX_REASON
    # Past it, the sweeper fails its open steps and the mission ends timed_out.
    deadline_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"], name="mission_status_idx"),
            models.Index(fields=["agent"], name="mission_agent_idx"),
            models.Index(
                fields=["deadline_at"],
                name="mission_deadline_idx",
                condition=Q(deadline_at__isnull=False) & Q(status__in=["approved", "running"]),
            ),
        ]

    def __str__(self):
        return f"M{self.id} {self.title}"

    @property
    def is_terminal(self) -> bool:
        return self.status in MISSION_TERMINAL

    def finalize(self) -> "Mission":
        """Close the mission once every step is terminal: failed if any failed, died or was
        cancelled. The rule is the SQL function `opscore_finalize_mission`
        (missions/sql/finalize_mission.*.sql) because a worker's completion runs it in the same
        round trip; this is the same function for Python callers."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT opscore_finalize_mission(%s)", [self.pk])
        self.refresh_from_db(fields=["status", "finished_at"])
        return self

    def cancel(self) -> None:
        self.status, self.finished_at = MissionStatus.CANCELLED, Now()
        self.save(update_fields=["status", "finished_at"])
        self.refresh_from_db(fields=["finished_at"])

    def pause(self, reason: str) -> None:
        """`reason` as mission_control checked it (opscore.text.checked_reason): never cut here."""
        self.paused_at, self.pause_reason = Now(), reason
        self.save(update_fields=["paused_at", "pause_reason"])
        self.refresh_from_db(fields=["paused_at"])

    def resume(self) -> None:
        self.paused_at, self.pause_reason = None, ""
        self.save(update_fields=["paused_at", "pause_reason"])

    def time_out(self) -> None:
        self.status, self.finished_at, self.paused_at = MissionStatus.TIMED_OUT, Now(), None
        self.save(update_fields=["status", "finished_at", "paused_at"])
        self.refresh_from_db(fields=["finished_at"])

    def reopen_if_failed(self) -> None:
        """A failed mission runs again when a human retries one of its steps."""
        Mission.objects.filter(pk=self.pk, status=MissionStatus.FAILED).update(
            status=MissionStatus.RUNNING, finished_at=None
        )
