"""Overrides: an operator's hand on the system, as rows with a reason, an actor and an expiry.

A standing override (pause a lane, freeze promotions, disable an agent, drain a queue) is in
force from `created_at` until it is lifted by someone or its `expires_at` passes; a one-shot
override (cancel a mission, force a retry, …) acts once and is recorded as applied. What an
override does lives with its kind (opscore.overrides); this row is the record and the switch.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class OverrideStatus(models.TextChoices):
    ACTIVE = "active", "in force"
    APPLIED = "applied", "applied once"
    LIFTED = "lifted"
    EXPIRED = "expired", "expired (lifted itself)"


# The agent switches an override owns while in force: field → (kind, how the kind names the agent).
AGENT_SWITCHES = {"enabled": ("disable_agent", "{slug}"), "draining": ("drain", "agent:{slug}")}


class OverrideQuerySet(models.QuerySet):
    def in_force(self):
        """Active and not past expiry by the database clock (the lifter may not have run yet)."""
        return self.filter(status=OverrideStatus.ACTIVE).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=Now())
        )

    def holding(self, slug: str, switch: str):
        """The override in force that owns this agent's `switch` (`enabled` or `draining`), if
        any: while it is, only lifting it may flip the switch (opscore.actions.set_agent_enabled,
        the admin and bootstrap all ask here)."""
        kind, target = AGENT_SWITCHES[switch]
        return self.in_force().filter(kind=kind, target=target.format(slug=slug)).first()

    def why_disabled(self, slug: str) -> str:
        """What a refusal says of a disabled agent: that it is, and which override holds it."""
        held = self.holding(slug, "enabled")
        return f"{slug} is disabled" + (f" (override {held.id}: {held.reason})" if held else "")

    def due_to_expire(self):
        return self.filter(status=OverrideStatus.ACTIVE, expires_at__lte=Now())


class Override(models.Model):
    kind = models.CharField(max_length=40)
    target = models.CharField(max_length=200)
    reason = models.CharField(max_length=500)
    actor = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=OverrideStatus.choices)
    preview = models.JSONField(default=dict, blank=True, help_text="what it stopped, when applied")
    result = models.JSONField(default=dict, blank=True, help_text="what applying it did")
    created_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=150, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.CharField(max_length=500, blank=True)

    objects = OverrideQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "target"],
                condition=Q(status="active"),
                name="override_one_active_per_target",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="override_reason_required"),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="override_status_kind_idx")]

    def __str__(self):
        return f"{self.kind} {self.target} ({self.status})"

    def lift(self, *, status: str, by: str, reason: str) -> None:
        """`reason` as opscore.overrides.override_reason kept it: never cut here without a word."""
        self.status, self.lifted_by, self.lift_reason = status, by, reason
        self.lifted_at = Now()
        self.save(update_fields=["status", "lifted_by", "lift_reason", "lifted_at"])
        self.refresh_from_db(fields=["lifted_at"])

    def restores_enabled(self) -> None:
        """A disable-agent's lift restores `was_enabled`; bootstrap brought the agent's phase
        while this held it, so once lifted the agent comes up (left as it was before that
        phase, disabled, it stayed off for good, and no later bootstrap enables it)."""
        self.result = {**self.result, "was_enabled": True}
        self.save(update_fields=["result"])

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "reason": self.reason,
            "actor": self.actor,
            "status": self.status,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "lifted_by": self.lifted_by,
            "lift_reason": self.lift_reason,
            "preview": self.preview,
            "result": self.result,
        }
