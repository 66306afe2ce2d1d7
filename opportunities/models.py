"""The proactive lane's rows: ideas (weak signals), opportunities (scored, evidenced, owned) and
every decision about an opportunity. An opportunity's status changes only through a review row."""

from django.db import models
from django.db.models import Case, FloatField, Q, Value, When
from django.db.models.functions import Cast, Now

OPEN_OPPORTUNITY = ["new", "triaged", "accepted", "parked"]
OPEN_IDEA = ["new", "reviewed"]


class IdeaStatus(models.TextChoices):
    NEW = "new"
    REVIEWED = "reviewed"
    PROMOTED = "promoted", "promoted to an opportunity"
    ARCHIVED = "archived"


class Idea(models.Model):
    """A weak signal, no scores: kept so nothing an agent noticed is lost, including an
    opportunity that was over budget (the reason says so)."""

    source_agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    theme = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    body = models.TextField()
    evidence = models.JSONField(default=list, blank=True, help_text="[{type, id}, …]")
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=IdeaStatus.choices, default=IdeaStatus.NEW)
    kept_because = models.CharField(
        max_length=300, blank=True, help_text="why this is an idea and not an opportunity"
    )
    promoted_opportunity = models.ForeignKey(
        "Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    untrusted_reason = models.CharField(
        max_length=300, blank=True, help_text="which untrusted content it derives from ('' = none)"
    )
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source_agent", "-created_at"], name="idea_source_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["source_agent", "dedupe_key"],
                condition=Q(status__in=OPEN_IDEA, dedupe_key__isnull=False),
                name="idea_open_dedupe_unique",
            ),
        ]

    def __str__(self):
        return f"I{self.id} {self.title}"


class OpportunityStatus(models.TextChoices):
    NEW = "new"
    TRIAGED = "triaged"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARKED = "parked"
    CONVERTED = "converted", "converted to a proposal"


class Reversibility(models.TextChoices):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low", "low (irreversible: a human decides)"


# Which decision may follow which status; converted and rejected are ends.
TRANSITIONS = {
    "new": {"triaged", "accepted", "rejected", "parked", "converted"},
    "triaged": {"accepted", "rejected", "parked", "converted"},
    "accepted": {"rejected", "parked", "converted"},
    "parked": {"triaged", "accepted", "rejected"},
}


class DecisionRefused(ValueError):
    pass


def score_field():
    return models.PositiveSmallIntegerField(help_text="1-5")


class OpportunityQuerySet(models.QuerySet):
    def strongest(self, weights: dict[str, float] | None = None):
        """Strongest first by `score` times its scout's weight, ordered in SQL: ranking only
        the newest few hundred by id left an older, stronger one out of every ranking."""
        bonus = Case(
            When(reversibility="high", then=Value(1.0)),
            When(reversibility="medium", then=Value(0.5)),
            default=Value(0.0),
        )
        score = (
            Cast("impact", FloatField()) * 2
            + Cast("confidence", FloatField()) * 1.5
            + Cast("urgency", FloatField())
            + bonus
        )
        by_scout = [When(source_agent_id=s, then=Value(w)) for s, w in (weights or {}).items()]
        weight = Case(*by_scout, default=Value(1.0), output_field=FloatField())
        return self.annotate(ranking=score * weight).order_by("-ranking", "id")


class Opportunity(models.Model):
    """What, why now, evidence, owner and the smallest next step, scored 1-5."""

    source_agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    theme = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    why_now = models.TextField()
    evidence = models.JSONField(default=list, help_text="[{type, id}, …], each resolvable")
    impact = score_field()
    confidence = score_field()
    urgency = score_field()
    reversibility = models.CharField(max_length=10, choices=Reversibility.choices)
    owner_candidate = models.ForeignKey(
        "opscore.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    suggested_next_step = models.TextField()
    cost_of_doing_nothing = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=OpportunityStatus.choices, default=OpportunityStatus.NEW
    )
    triaged_by = models.CharField(max_length=150, blank=True)
    triage_notes = models.TextField(blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    proposal = models.OneToOneField(
        "missions.Proposal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    untrusted_reason = models.CharField(
        max_length=300, blank=True, help_text="which untrusted content it derives from ('' = none)"
    )
    goal = models.ForeignKey(
        "missions.Goal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        help_text="the goal it would serve; its proposal names it at the intake",
    )
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["status", "-created_at"], name="opportunity_status_idx"),
            models.Index(fields=["source_agent", "-created_at"], name="opportunity_source_idx"),
            models.Index(fields=["theme", "-created_at"], name="opportunity_theme_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_agent", "dedupe_key"],
                condition=Q(status__in=OPEN_OPPORTUNITY, dedupe_key__isnull=False),
                name="opportunity_open_dedupe_unique",
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gte": 1, f"{name}__lte": 5}),
                    name=f"opportunity_{name}_1_to_5",
                )
                for name in ("impact", "confidence", "urgency")
            ],
        ]

    def __str__(self):
        return f"O{self.id} {self.title}"

    @property
    def score(self) -> float:
        """The coordinator's ranking: impact first, then confidence and urgency; an
        irreversible one needs more to rank the same."""
        bonus = {"high": 1.0, "medium": 0.5, "low": 0.0}[self.reversibility]
        return self.impact * 2 + self.confidence * 1.5 + self.urgency + bonus

    def decide(self, decision: str, reviewer: str, notes: str = "") -> "OpportunityReview":
        """The only way its status changes: checked against TRANSITIONS, written as a review."""
        if decision not in TRANSITIONS.get(self.status, set()):
            raise DecisionRefused(f"O{self.id} is {self.status}; it cannot become {decision}")
        self.status, self.updated_at = decision, Now()
        fields = ["status", "updated_at"]
        if decision in ("triaged", "accepted", "rejected", "parked"):
            self.triaged_by, self.triage_notes, self.triaged_at = reviewer, notes[:2000], Now()
            fields += ["triaged_by", "triage_notes", "triaged_at"]
        self.save(update_fields=[*fields, "proposal"])
        return OpportunityReview.objects.create(
            opportunity=self, reviewer=reviewer, decision=decision, notes=notes[:2000]
        )


class OpportunityReview(models.Model):
    """One decision about an opportunity: who, what, why. Never edited."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.CharField(max_length=150)
    decision = models.CharField(max_length=10, choices=OpportunityStatus.choices)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.decision} by {self.reviewer}"


class NoticeLane(models.TextChoices):
    """What kind of message a notice is; its label starts the e-mail's subject."""

    ALERT = "alert"
    DIGEST = "digest", "daily ideas digest"
    ACCOUNTABILITY = "accountability", "daily accountability digest"
    MEMO = "memo", "weekly bets memo"


class Notice(models.Model):
    """One message to the humans, from the one arbiter: shown in the Stage's inbox, sent by
    e-mail and webhook through the outbox (exactly once), dismissable with a reason."""

    lane = models.CharField(max_length=20, choices=NoticeLane.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()
    evidence = models.JSONField(default=list, blank=True)
    source_agent = models.ForeignKey(
        "opscore.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(db_default=Now())
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.CharField(max_length=150, blank=True)
    dismiss_reason = models.CharField(max_length=500, blank=True)  # opscore.text.MAX_REASON

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.lane}: {self.title}"


WEIGHT_FLOOR, WEIGHT_CEILING = 0.5, 1.5


class ScoutWeightQuerySet(models.QuerySet):
    def current(self) -> dict[str, float]:
        """Each scout's weight in force: its latest adjustment (1.0 until it has one)."""
        latest = self.order_by("scout_id", "-id").distinct("scout_id")
        return dict(latest.values_list("scout_id", "weight"))


class ScoutWeight(models.Model):
    """One recorded adjustment of a scout's weight in triage, from its calibration: how its
    predicted scores compared with what happened. Bounded (WEIGHT_FLOOR..CEILING, and a step
    at a time); never edited — the next adjustment is a new row."""

    scout = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    weight = models.FloatField()
    previous = models.FloatField()
    reason = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, help_text="the calibration it was computed from")
    decided_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(db_default=Now())

    objects = ScoutWeightQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["scout", "-id"], name="scout_weight_latest_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=WEIGHT_FLOOR, weight__lte=WEIGHT_CEILING),
                name="scout_weight_bounded",
            ),
        ]

    def __str__(self):
        return f"{self.scout_id}: {self.previous} → {self.weight}"


class ChannelAccount(models.Model):
    """A publishing channel's standing here (never its credentials, which live only in the
    environment): whether a human approved its first real post, and whether a refused
    credential blocked it, with why. A blocked channel posts nothing until a human unblocks it."""

    name = models.CharField(primary_key=True, max_length=20)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=200, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    @property
    def blocked(self) -> bool:
        return self.blocked_at is not None

    def approve(self, actor: str) -> None:
        self.approved_at, self.approved_by = Now(), actor[:200]
        self.save(update_fields=["approved_at", "approved_by"])
        self.refresh_from_db(fields=["approved_at"])

    def block(self, reason: str) -> bool:
        """Returns whether this call blocked it (False: it already was; one alert is enough)."""
        done = ChannelAccount.objects.filter(pk=self.pk, blocked_at__isnull=True).update(
            blocked_at=Now(), blocked_reason=reason[:500]
        )
        self.refresh_from_db(fields=["blocked_at", "blocked_reason"])
        return bool(done)

    def unblock(self) -> None:
        self.blocked_at, self.blocked_reason = None, ""
        self.save(update_fields=["blocked_at", "blocked_reason"])
