import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Now, Trunc


def in_seconds(seconds: float):
    """now() + seconds, on the database clock."""
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


def start_of_today():
    """Midnight in the configured time zone, computed by the database clock."""
    return Trunc(Now(), "day", output_field=models.DateTimeField())


class ProposalSource(models.TextChoices):
    API = "api"
    TRIGGER = "trigger"
    REACTION = "reaction"
    INITIATIVE = "initiative"
    CONVERSATION = "conversation"
    HUMAN = "human"


class ProposalStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class RejectionCode(models.TextChoices):
    AGENT_DISABLED = "agent_disabled"
    DAILY_LIMIT = "daily_limit"
    CAP_GATE = "cap_gate"
    OPERATOR = "operator"


class ProposalQuerySet(models.QuerySet):
    def created_today(self):
        return self.filter(created_at__gte=start_of_today())

    def counting_toward_daily_limit(self):
        """Proposals an agent spent its allowance on; refusals at the door do not count."""
        return self.exclude(
            rejection_code__in=[RejectionCode.AGENT_DISABLED, RejectionCode.DAILY_LIMIT]
        )


class Proposal(models.Model):
    """A request for work. Enters only through `missions.actions.submit_proposal`."""

    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="proposals")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=ProposalSource.choices)
    cause_event = models.ForeignKey(
        "opscore.Event",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="caused_proposals",
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    cause_ref = models.CharField(
        max_length=200, blank=True, help_text="e.g. trigger_rule:12, reaction:7, conversation:3"
    )
    proposed_steps = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    reason = models.TextField(blank=True)
    rejection_code = models.CharField(max_length=20, choices=RejectionCode.choices, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    untrusted = models.BooleanField(
        default=False, help_text="Derived from outside content: never auto-approved"
    )
    created_at = models.DateTimeField(db_default=Now())
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="proposal_agent_day_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(status="rejected"),
                name="proposal_rejected_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason=""),
                name="proposal_rejection_has_reason",
            ),
        ]

    def __str__(self):
        return f"P{self.id} {self.title}"

    @property
    def step_kinds(self) -> list[str]:
        return [spec["kind"] for spec in self.proposed_steps]

    def as_json(self) -> dict:
        mission = Mission.objects.filter(proposal=self).first()
        return {
            "id": self.id,
            "agent": self.agent_id,
            "title": self.title,
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "rejection_code": self.rejection_code,
            "mission_id": mission.id if mission else None,
            "step_ids": list(mission.steps.values_list("id", flat=True)) if mission else [],
            "created_at": self.created_at.isoformat(),
        }


class MissionStatus(models.TextChoices):
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


MISSION_TERMINAL = [MissionStatus.SUCCEEDED, MissionStatus.FAILED, MissionStatus.CANCELLED]


class Mission(models.Model):
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=MissionStatus.choices, default=MissionStatus.APPROVED
    )
    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="missions")
    created_by = models.CharField(max_length=150)
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="mission")
    policy_versions = models.JSONField(
        default=dict, help_text="Policy key → version in force when this mission was approved"
    )
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="mission_status_idx")]

    def __str__(self):
        return f"M{self.id} {self.title}"

    @property
    def is_terminal(self) -> bool:
        return self.status in MISSION_TERMINAL


class StepStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    DEAD = "dead"
    CANCELLED = "cancelled"


STEP_TERMINAL = [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.DEAD, StepStatus.CANCELLED]
STEP_OPEN = [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.BLOCKED]


class StepQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=STEP_OPEN)

    def of_kind(self, kind: str):
        return self.filter(kind=kind)

    def created_today(self):
        return self.filter(created_at__gte=start_of_today())

    def counting_toward_quota(self):
        """Steps that did or will do their work: cancelled, failed and dead ones did not."""
        return self.exclude(status__in=[StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.DEAD])

    def with_expired_lease(self):
        """Running steps whose lease ran out by the database clock (served by step_lease_idx)."""
        return self.filter(status=StepStatus.RUNNING, lease_expires_at__lt=Now())

    def holding_lease(self, token):
        """The compare-and-set guard: only the current lease holder may write."""
        return self.filter(status=StepStatus.RUNNING, lease_token=token)


class Step(models.Model):
    """One unit of work. Its row is the truth; broker messages are only wake-up hints."""

    mission = models.ForeignKey(Mission, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.QUEUED)
    # Served by step_agent_status_idx (agent, status): a second index would be rewritten on
    # every status change for nothing.
    agent = models.ForeignKey(
        "opscore.Agent", on_delete=models.PROTECT, related_name="steps", db_index=False
    )
    priority = models.IntegerField(default=100, help_text="1..1000, higher runs sooner")
    run_after = models.DateTimeField(db_default=Now())
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    last_error = models.TextField(blank=True)
    blocked_reason = models.TextField(blank=True)
    blocked_code = models.CharField(
        max_length=40, blank=True, help_text="Which check may clear the blocker on its own"
    )
    result = models.JSONField(null=True, blank=True)
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, through="StepDependency", related_name="dependents", blank=True
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StepQuerySet.as_manager()

    class Meta:
        ordering = ["mission_id", "position"]
        indexes = [
            # Serves "next ready step": only queued rows are in it, so it stays small.
            models.Index(
                F("priority").desc(),
                "run_after",
                "id",
                condition=Q(status="queued"),
                name="step_ready_idx",
            ),
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="running"), name="step_lease_idx"
            ),
            models.Index(fields=["agent", "status"], name="step_agent_status_idx"),
            # Quota counts only read gated kinds (missions/gates.py); other steps skip this index.
            models.Index(
                fields=["kind", "created_at"],
                condition=Q(kind__in=["write_content", "post_tweet", "deploy"]),
                name="step_gated_kind_day_idx",
            ),
        ]
        constraints = [
            # Partial: most steps have no dedupe key, and a full index would be rewritten on
            # every status change of every step.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="step_dedupe_unique",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=1000), name="step_priority_range"
            ),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="step_attempts_positive"),
            models.CheckConstraint(
                condition=~Q(status="blocked") | ~Q(blocked_reason=""),
                name="step_blocked_has_reason",
            ),
            # A running step holds exactly one lease; any other status holds none.
            models.CheckConstraint(
                condition=(
                    Q(status="running", lease_token__isnull=False, lease_expires_at__isnull=False)
                    | (
                        ~Q(status="running")
                        & Q(lease_token__isnull=True, lease_expires_at__isnull=True)
                    )
                ),
                name="step_one_active_lease",
            ),
        ]

    def __str__(self):
        return f"S{self.id} {self.kind}"

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL


class StepDependency(models.Model):
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="dependency_links")
    depends_on = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="dependent_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "depends_on"], name="step_dependency_unique"),
            models.CheckConstraint(
                condition=~Q(step=F("depends_on")), name="step_dependency_not_self"
            ),
        ]

    def __str__(self):
        return f"S{self.step_id} after S{self.depends_on_id}"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    LOST = "lost", "lost (lease expired)"
    CANCELLED = "cancelled"


class StepAttempt(models.Model):
    """One row per try at a step: who ran it, when, and how it ended."""

    step = models.ForeignKey(  # attempt_no_unique (step, attempt_no) serves lookups by step
        Step, on_delete=models.PROTECT, related_name="attempts", db_index=False
    )
    attempt_no = models.PositiveIntegerField()
    worker_id = models.CharField(max_length=200)
    lease_token = models.UUIDField(default=uuid.uuid4)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["step_id", "attempt_no"]
        constraints = [
            models.UniqueConstraint(fields=["step", "attempt_no"], name="attempt_no_unique"),
        ]

    def __str__(self):
        return f"S{self.step_id} attempt {self.attempt_no}"


class OutboxStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxMessage(models.Model):
    """An external effect, written in the same transaction as the step's completion.

    The unique key makes a retried or restarted step unable to record the same effect twice;
    delivery reads these rows later and marks them delivered.
    """

    key = models.CharField(max_length=200, unique=True)
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="outbox")
    channel = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    last_error = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="outbox_pending_idx"),
        ]

    def __str__(self):
        return f"{self.channel}:{self.key}"


class Worker(models.Model):
    """A liveness row per worker process, written every ~30 s while it runs. `current_step`
    names a step long enough to have had its lease renewed; `steps_run` is flushed on each
    beat, so it may trail the truth (StepAttempt rows) by up to one beat."""

    worker_id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    current_step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    steps_run = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.worker_id


class Provenance(models.TextChoices):
    TRUSTED = "trusted", "trusted (made by our agents)"
    UNTRUSTED = "untrusted", "untrusted (from outside, e.g. a crawled page)"


class Artifact(models.Model):
    """What a step produced: text plus metadata, and where its content came from."""

    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.PROTECT, related_name="artifacts"
    )
    standing_order_run = models.ForeignKey(
        "opscore.StandingOrderRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="artifacts",
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    body = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    provenance = models.CharField(
        max_length=10, choices=Provenance.choices, default=Provenance.TRUSTED
    )
    source_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"A{self.id} {self.kind}: {self.title}"


class PublicationStatus(models.TextChoices):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


class Publication(models.Model):
    """A post to an outside channel, created by its outbox row exactly once."""

    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="publications")
    outbox = models.OneToOneField(
        OutboxMessage, on_delete=models.PROTECT, related_name="publication"
    )
    channel = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=PublicationStatus.choices, default=PublicationStatus.PENDING
    )
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["channel", "created_at"], name="publication_day_idx")]

    def __str__(self):
        return f"{self.channel}: {self.body[:40]}"


class TriggerRule(models.Model):
    """A condition that, when a checker finds it true, proposes work through the intake."""

    name = models.SlugField(max_length=80, unique=True)
    trigger_event = models.CharField(max_length=64, help_text="The key of a checker function")
    conditions = models.JSONField(default=dict, blank=True)
    action_config = models.JSONField(default=dict, help_text="target_agent, step_kinds, title")
    cooldown_minutes = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    proactive = models.BooleanField(default=False)
    skip_probability = models.FloatField(default=0.0)
    jitter_min_minutes = models.PositiveIntegerField(default=0)
    jitter_max_minutes = models.PositiveIntegerField(default=0)
    topics = models.JSONField(default=list, blank=True)
    topic_position = models.PositiveIntegerField(default=0)
    fire_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_seen_event_id = models.BigIntegerField(default=0, help_text="Reactive checkers' cursor")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(skip_probability__gte=0, skip_probability__lte=1),
                name="trigger_skip_probability_range",
            ),
            models.CheckConstraint(
                condition=Q(jitter_min_minutes__lte=F("jitter_max_minutes")),
                name="trigger_jitter_ordered",
            ),
        ]

    def __str__(self):
        return self.name

    def next_topic(self) -> str | None:
        if not self.topics:
            return None
        return self.topics[self.topic_position % len(self.topics)]


class ReactionStatus(models.TextChoices):
    QUEUED = "queued"
    PROCESSED = "processed"
    SKIPPED = "skipped"


class Reaction(models.Model):
    """A matched reaction-matrix pattern: queued for the heartbeat, or skipped with a reason."""

    source_event = models.ForeignKey(
        "opscore.Event", on_delete=models.PROTECT, related_name="reactions"
    )
    pattern_key = models.CharField(max_length=64)
    pattern = models.JSONField()
    target_agent = models.CharField(max_length=64)
    reaction_type = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=ReactionStatus.choices)
    reason = models.CharField(max_length=300, blank=True)
    proposal = models.ForeignKey(
        Proposal, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="queued"), name="reaction_queued_idx"),
            models.Index(fields=["pattern_key", "-created_at"], name="reaction_cooldown_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_event", "pattern_key"], name="reaction_once_per_event"
            ),
        ]

    def __str__(self):
        return f"R{self.id} {self.reaction_type} by {self.target_agent} ({self.status})"


class ContentMetric(models.Model):
    """Engagement measured for a post; feeds the tweet_high_engagement checker."""

    publication = models.ForeignKey(
        Publication, null=True, blank=True, on_delete=models.PROTECT, related_name="metrics"
    )
    post_ref = models.CharField(max_length=200)
    impressions = models.PositiveIntegerField()
    engagements = models.PositiveIntegerField()
    engagement_rate = models.FloatField()
    measured_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.post_ref}: {self.engagement_rate:.2%}"


class LoopCursor(models.Model):
    """How far a lane has read the event log (e.g. the reaction matcher)."""

    name = models.CharField(primary_key=True, max_length=64)
    position = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}@{self.position}"
