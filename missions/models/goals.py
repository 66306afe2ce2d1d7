"""Goals above missions: what the company is trying to move this quarter, measured by the
ledger's own numbers, and the operator's ratings of what the work produced.

A goal is versioned like a policy: every change of what it asks for is a `GoalVersion` row
(append-only in the database). Its progress is never stored on the goal: it is measured from
the ledger when asked (`missions.goal_metrics`) and sampled into `GoalSnapshot` rows by a
heartbeat duty, so the Stage can draw it over time.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

MAX_TITLE = 200
MAX_WHY = 2000


def figure(value: float) -> str:
    """A goal's number as a person reads it (1,000,000,000,000; 2.5; 0.33), the same on the
    Stage, the admin, the CLI and the digest; JSON keeps the plain number."""
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".")


class GoalStatus(models.TextChoices):
    ACTIVE = "active"
    CLOSED = "closed"


class GoalDirection(models.TextChoices):
    AT_LEAST = "at_least", "reach at least the target"
    AT_MOST = "at_most", "stay at or under the target"


class GoalScope(models.TextChoices):
    COMPANY = "company", "everything in the ledger"
    GOAL = "goal", "only work that names this goal"


class GoalQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=GoalStatus.ACTIVE)

    def running(self):
        """Active and before its deadline: the goals work can still count toward (past it,
        an active goal's value stands still until someone closes it)."""
        return self.active().filter(deadline_at__gt=Now())


class Goal(models.Model):
    title = models.CharField(max_length=MAX_TITLE)
    why = models.TextField(blank=True)
    metric = models.CharField(max_length=40, help_text="a name in missions.goal_metrics.METRICS")
    scope = models.CharField(max_length=10, choices=GoalScope.choices, default=GoalScope.COMPANY)
    target = models.FloatField()
    direction = models.CharField(
        max_length=10, choices=GoalDirection.choices, default=GoalDirection.AT_LEAST
    )
    owner = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="goals")
    starts_at = models.DateTimeField(db_default=Now(), help_text="progress is counted from here")
    deadline_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=GoalStatus.choices, default=GoalStatus.ACTIVE)
    version = models.PositiveIntegerField(default=1)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(db_default=Now())
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    close_reason = models.CharField(max_length=500, blank=True)
    met = models.BooleanField(null=True, blank=True, help_text="judged when closed")
    final_value = models.FloatField(null=True, blank=True)

    objects = GoalQuerySet.as_manager()

    class Meta:
        ordering = ["status", "deadline_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=0), name="goal_target_not_negative"),
            models.CheckConstraint(
                condition=Q(status="active", met__isnull=True, closed_at__isnull=True)
                | Q(status="closed", met__isnull=False, closed_at__isnull=False),
                name="goal_closed_records_met",
            ),
        ]

    def __str__(self):
        return f"G{self.id} {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status == GoalStatus.ACTIVE

    def due(self):
        """The deadline's day in OPS_TIME_ZONE, the day a goal due on a date was given as (the
        Stage's dates are in it): its UTC date was a day later west of Greenwich."""
        return timezone.localdate(self.deadline_at)

    def why_no_work_counts(self, now) -> str:
        """Why work named for this goal now could never count toward it, or ''."""
        if not self.is_active:
            return f"G{self.id} is closed: no work can serve it now"
        if self.deadline_at <= now:
            return (
                f"G{self.id}'s deadline passed on {self.due():%Y-%m-%d}: no work can count "
                "toward it now (revise its deadline or close it)"
            )
        return ""

    def is_met_by(self, value: float) -> bool:
        if self.direction == GoalDirection.AT_MOST:
            return value <= self.target
        return value >= self.target

    def verdict(self, value: float, now) -> str:
        """Where the goal stands, in the words every interface uses. While active: an
        allowance used past its limit is over it (the ledger's counts only grow), and a target
        not reached by a deadline already passed is no longer "not yet" (counting stopped)."""
        if not self.is_active:
            return "met" if self.met else "not met"
        if self.is_met_by(value):
            return "on target"
        if self.direction == GoalDirection.AT_MOST:
            return "over the limit"
        return "deadline passed, not reached" if self.deadline_at <= now else "not yet"

    def progress(self, value: float) -> float:
        """0..1: how far toward the target (at_least), or how much of the allowance is used
        (at_most, where 1 means the limit is reached)."""
        if self.target <= 0:
            return 1.0 if self.direction == GoalDirection.AT_LEAST or value > 0 else 0.0
        return max(0.0, min(value / self.target, 1.0))

    def close(self, *, value: float, actor: str, reason: str) -> None:
        self.status = GoalStatus.CLOSED
        self.final_value = value
        self.met = self.is_met_by(value)
        self.closed_by, self.close_reason, self.closed_at = actor, reason, Now()
        self.save(
            update_fields=["status", "final_value", "met", "closed_by", "close_reason", "closed_at"]
        )
        self.refresh_from_db(fields=["closed_at"])

    def terms(self) -> dict:
        """What the goal asks for: the part a version row records."""
        return {
            "title": self.title,
            "why": self.why,
            "metric": self.metric,
            "scope": self.scope,
            "target": self.target,
            "direction": self.direction,
            "owner": self.owner_id,
            "deadline_at": self.deadline_at.isoformat(),
        }


class GoalVersion(models.Model):
    """One row per change of a goal's terms: who, when, why, old and new. Never edited."""

    goal = models.ForeignKey(Goal, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField()
    changed_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["goal_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "version"], name="goal_version_unique"),
        ]

    def __str__(self):
        return f"G{self.goal_id} v{self.version}"


class GoalSnapshot(models.Model):
    """The goal's metric as measured at `taken_at`: the points of its progress line."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="snapshots")
    value = models.FloatField()
    taken_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["goal_id", "taken_at"]
        indexes = [models.Index(fields=["goal", "-taken_at"], name="goal_snapshot_latest_idx")]

    def __str__(self):
        return f"G{self.goal_id} {self.value} at {self.taken_at:%F %H:%M}"


class Rating(models.TextChoices):
    USEFUL = "useful"
    NOT_USEFUL = "not_useful", "not useful"


class Feedback(models.Model):
    """An operator's rating of an output, with the reason: evidence the memory lane may cite
    (type `feedback`) and the outcome learner counts. The mission is always set; the artifact
    or publication names the output more precisely when the rating is about one."""

    mission = models.ForeignKey(
        "missions.Mission", on_delete=models.PROTECT, related_name="feedback"
    )
    artifact = models.ForeignKey(
        "missions.Artifact", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    publication = models.ForeignKey(
        "missions.Publication", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rating = models.CharField(max_length=12, choices=Rating.choices)
    reason = models.CharField(max_length=500)
    given_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "feedback"
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="feedback_has_reason"),
        ]

    def __str__(self):
        return f"F{self.id} {self.rating} on M{self.mission_id}"

    @property
    def useful(self) -> bool:
        return self.rating == Rating.USEFUL

    @property
    def output(self) -> str:
        if self.artifact_id:
            return f"artifact A{self.artifact_id}"
        if self.publication_id:
            return f"publication {self.publication_id}"
        return f"mission M{self.mission_id}"
