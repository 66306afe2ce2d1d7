"""Initiative requests: an agent's turn to propose its own work, from the heartbeat's queue to
an ending that says what happened (submitted, rejected by the intake, failed, or skipped)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class InitiativeStatus(models.TextChoices):
    QUEUED = "queued"
    DRAFTING = "drafting"
    SUBMITTED = "submitted"
    REJECTED = "rejected", "rejected (by the intake)"
    FAILED = "failed"
    SKIPPED = "skipped", "skipped (not eligible)"


INITIATIVE_ENDINGS = [
    InitiativeStatus.SUBMITTED,
    InitiativeStatus.REJECTED,
    InitiativeStatus.FAILED,
    InitiativeStatus.SKIPPED,
]


class InitiativeRequest(models.Model):
    agent = models.ForeignKey(
        "opscore.Agent", on_delete=models.PROTECT, related_name="initiative_requests"
    )
    status = models.CharField(
        max_length=10, choices=InitiativeStatus.choices, default=InitiativeStatus.QUEUED
    )
    reason = models.TextField(blank=True)
    memory_ids = models.JSONField(default=list, blank=True, help_text="what the draft read")
    proposal = models.ForeignKey(
        "missions.Proposal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    drafted_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["agent", "-created_at"], name="initiative_agent_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(status__in=["queued", "drafting"]),
                name="initiative_one_open_per_agent",
            ),
        ]

    def __str__(self):
        return f"I{self.id} {self.agent_id} ({self.status})"

    def finish(self, status: str, reason: str = "", proposal=None) -> bool:
        """End it, only if it is still as this copy last saw it (open, the same claim): the
        heartbeat gives up a draft whose worker looks lost, and a slow worker's late ending
        must not rewrite that. Returns whether it ended here."""
        ended = InitiativeRequest.objects.filter(
            pk=self.pk, status=self.status, claimed_at=self.claimed_at
        ).update(status=status, reason=reason[:2000], proposal=proposal, finished_at=Now())
        if ended:
            self.status, self.reason, self.proposal = status, reason[:2000], proposal
        return bool(ended)

    def held(self) -> "InitiativeRequest | None":
        """This row locked, if it is still as this copy saw it; else None (it was ended)."""
        return (
            InitiativeRequest.objects.select_for_update()
            .filter(pk=self.pk, status=self.status, claimed_at=self.claimed_at)
            .first()
        )
