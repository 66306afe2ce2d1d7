from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Now

from opscore.policies import SCHEMAS, PolicyValue, parse_policy


class AgentQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)


class Agent(models.Model):
    """One member of the company. Agents are disabled, never deleted: history points at them."""

    slug = models.SlugField(primary_key=True, max_length=64)
    display_name = models.CharField(max_length=100)
    role = models.CharField(max_length=200)
    tone = models.CharField(max_length=300, blank=True)
    quirk = models.CharField(max_length=300, blank=True)
    signature = models.CharField(max_length=200, blank=True)
    system_directive = models.TextField(blank=True)
    enabled = models.BooleanField(default=False)
    daily_proposal_limit = models.PositiveIntegerField(default=20)
    max_concurrent_steps = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    roster = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_concurrent_steps__gte=1), name="agent_concurrency_positive"
            ),
        ]

    def __str__(self):
        return self.slug

    @property
    def actor(self) -> str:
        return f"agent:{self.slug}"


class PolicyQuerySet(models.QuerySet):
    def value(self, key: str) -> PolicyValue:
        """The typed value in force; a key never seeded reads as its schema default."""
        row = self.filter(key=key).only("value").first()
        return parse_policy(key, row.value) if row else SCHEMAS[key]()

    def versions_in_force(self, keys) -> dict[str, int]:
        return dict(self.filter(key__in=keys).values_list("key", "version"))


class Policy(models.Model):
    """Live configuration as JSON, validated per key. Changed only through `set_policy`."""

    key = models.CharField(primary_key=True, max_length=64)
    value = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(db_default=Now())
    updated_by = models.CharField(max_length=150, blank=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["key"]

    def __str__(self):
        return self.key

    def typed(self) -> PolicyValue:
        return parse_policy(self.key, self.value)


class PolicyVersion(models.Model):
    """One row per change of a policy: who, when, old and new value. Never edited."""

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField()
    changed_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["policy_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique"),
        ]

    def __str__(self):
        return f"{self.policy_id} v{self.version}"


class EventQuerySet(models.QuerySet):
    def after(self, event_id: int):
        return self.filter(id__gt=event_id).order_by("id")


class Event(models.Model):
    """An append-only fact. The database refuses UPDATE and DELETE on this table."""

    kind = models.CharField(max_length=100)
    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # No single-column indexes where a composite one below leads with the same column: every
    # index is written on every event insert, the hottest write in the system.
    # No database foreign keys either (db_constraint=False): a key check takes a KEY SHARE
    # lock on the agent and mission row for every event, and concurrent workers writing
    # events about one agent then contend on that row (MultiXacts). Events only ever name rows
    # that exist as they are written, and PROTECT still guards deletes through the ORM.
    agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    proposal = models.ForeignKey(
        "missions.Proposal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_constraint=False,
    )
    mission = models.ForeignKey(
        "missions.Mission",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    step = models.ForeignKey(
        "missions.Step",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_constraint=False,
    )
    actor = models.CharField(max_length=150, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["kind", "-id"], name="event_kind_idx"),
            models.Index(fields=["agent", "-id"], name="event_agent_idx"),
            models.Index(fields=["mission", "id"], name="event_mission_idx"),
            GinIndex(fields=["tags"], name="event_tags_gin"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "dedupe_key"],
                condition=models.Q(dedupe_key__isnull=False),
                name="event_dedupe_unique",
            ),
        ]

    def __str__(self):
        return f"#{self.id} {self.kind}"

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "summary": self.summary,
            "tags": self.tags,
            "payload": self.payload,
            "agent": self.agent_id,
            "proposal_id": self.proposal_id,
            "mission_id": self.mission_id,
            "step_id": self.step_id,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
        }


def operator_actor(user) -> str:
    return f"operator:{user.get_username()}" if user else "operator:unknown"


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


class LLMCallOutcome(models.TextChoices):
    OK = "ok"
    TRANSIENT_ERROR = "transient_error"
    ERROR = "error"
    OVER_BUDGET = "over_budget"


class LLMCallQuerySet(models.QuerySet):
    def today(self):
        from django.db.models.functions import Trunc

        return self.filter(created_at__gte=Trunc(Now(), "day", output_field=models.DateTimeField()))

    def spend(self):
        return self.aggregate(total=models.Sum("cost_usd"))["total"] or 0


class LLMCall(models.Model):
    """Every call to a model, successful or not: tokens, cost and latency, for accounting."""

    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT)
    step = models.ForeignKey(
        "missions.Step", null=True, blank=True, on_delete=models.PROTECT, related_name="llm_calls"
    )
    purpose = models.CharField(max_length=100)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=50)
    attempt = models.PositiveSmallIntegerField(default=1)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=LLMCallOutcome.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())

    objects = LLMCallQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="llmcall_agent_day_idx"),
            models.Index(fields=["created_at"], name="llmcall_day_idx"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.model} {self.outcome}"


class StandingOrder(models.Model):
    """A duty an agent must perform on a schedule, whose every expected run leaves a row."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="standing_orders")
    name = models.SlugField(max_length=80)
    cron = models.CharField(max_length=100, help_text="Five-field cron, in `timezone`")
    timezone = models.CharField(max_length=64, default="UTC")
    grace_minutes = models.PositiveIntegerField(default=5)
    timeout_minutes = models.PositiveIntegerField(default=30)
    enabled = models.BooleanField(default=True)
    handler = models.CharField(max_length=64, default="generic")
    precondition = models.CharField(
        max_length=64,
        blank=True,
        help_text="Generic orders: a named check; nothing found → no_work",
    )
    instructions = models.TextField(blank=True)
    phase = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["agent_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="standing_order_unique"),
        ]

    def __str__(self):
        return f"{self.agent_id}/{self.name}"

    def clean(self):
        from django.core.exceptions import ValidationError

        from opscore.schedule_math import ScheduleError, validate

        try:
            validate(self.cron, self.timezone)
        except ScheduleError as problem:
            raise ValidationError({"cron": str(problem)}) from None

    def expected_slots(self, since, until) -> list:
        """Every slot the schedule asks for in (since, until], as aware UTC datetimes."""
        from opscore.schedule_math import slots_between

        return slots_between(self.cron, self.timezone, since, until)


class RunStatus(models.TextChoices):
    STARTED = "started"
    NO_WORK = "no_work", "no work (ran, found nothing)"
    COMPLETED = "completed"
    BLOCKED = "blocked"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed", "missed (did not run)"


RUN_TERMINAL = [s for s in RunStatus.values if s != RunStatus.STARTED]


class StandingOrderRun(models.Model):
    """One row per expected slot: proof that it ran (and how it ended) or that it did not."""

    order = models.ForeignKey(StandingOrder, on_delete=models.PROTECT, related_name="runs")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    summary = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    mission = models.ForeignKey(
        "missions.Mission", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["order", "scheduled_for"], name="run_slot_unique"),
        ]
        indexes = [
            models.Index(
                fields=["scheduled_for"], condition=models.Q(status="started"), name="run_open_idx"
            ),
        ]

    def __str__(self):
        return f"{self.order} @ {self.scheduled_for:%Y-%m-%d %H:%M} {self.status}"
