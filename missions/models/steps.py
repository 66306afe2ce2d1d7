"""Steps: the rows durable execution runs on, each one unit of a mission's work
(missions/models/missions.py), with its dependencies and one row per attempt at it."""

import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from opscore.db import in_seconds, start_of_today
from opscore.digests import content_digest
from opscore.row_checks import WholeRowCheck


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
# A step ended so: what waits on it never runs (missions.execution.cancel_dependents).
STEP_ENDED_UNSUCCESSFULLY = [StepStatus.FAILED, StepStatus.DEAD, StepStatus.CANCELLED]
# The events a step's death writes: out of attempts (missions.execution.settle_failure) or
# dead-lettered by a person (missions.step_actions.dead_letter_step). Events are never updated
# or deleted, so their count only grows, where the dead steps on file fall with each retry.
STEP_DEATH_EVENTS = ["step.dead", "step.dead_lettered"]
# The one lease-clearing rule: a step that is not running holds no lease (the constraint
# step_row_valid says the same in the database).
NO_LEASE = {"lease_token": None, "lease_expires_at": None, "lease_owner": ""}
# ... and a step that is not blocked says nothing of what it waited for: a failed step whose
# words a person refused read "blocked: waiting for a person to approve its words" on the Stage.
NOT_BLOCKED = {"blocked_reason": "", "blocked_code": ""}
# The blocker code of a step its quota stopped at run time: it gives its slot back while it
# waits (StepQuerySet.in_todays_quota), and the sweeper sends it back once a day has room.
QUOTA_WAIT = "quota"
# The columns missions_step_row_valid reads (Django's validation hands it a row of these).
ROW_RULE_FIELDS = [
    "status",
    "lease_token",
    "lease_expires_at",
    "blocked_reason",
    "position",
    "attempt_count",
    "max_attempts",
    "priority",
]


def _ran_today() -> Q:
    """Built for each query: OPS_TIME_ZONE is read then."""
    return Q(status=StepStatus.SUCCEEDED, finished_at__gte=start_of_today())


class StepQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=STEP_OPEN)

    def of_kind(self, kind: str):
        return self.filter(kind=kind)

    def in_todays_quota(self):
        """The work today's quota counts: steps still to run (queued, running or blocked,
        whatever day they were made, since they run today or later) and those that succeeded
        today, by the day in OPS_TIME_ZONE. Not one its quota blocked at run time: it waits
        for a day with room, and holding a slot of each day meanwhile, it kept that room from
        itself and from all other work. Counted by the day a step was made, one made before
        midnight that ran after it (retried, requeued, or just still queued) took no slot of
        the day it ran in. A failed, dead or cancelled step did not do its work: its slot is
        free again."""
        waiting = Q(status__in=STEP_OPEN) & ~Q(status=StepStatus.BLOCKED, blocked_code=QUOTA_WAIT)
        return self.filter(waiting | _ran_today())

    def ran_today(self):
        """The part of today's quota already spent: steps that succeeded today."""
        return self.filter(_ran_today())

    def with_expired_lease(self):
        """Running steps whose lease ran out by the database clock (served by step_lease_idx)."""
        return self.filter(status=StepStatus.RUNNING, lease_expires_at__lt=Now())

    def holding_lease(self, token):
        """The compare-and-set guard: only the current lease holder may write."""
        return self.filter(status=StepStatus.RUNNING, lease_token=token)

    def of_proposal(self, proposal):
        return self.filter(mission__proposal=proposal).order_by("position")

    def cancel(self, reason: str = "the step was cancelled") -> int:
        """Cancel these steps; a running one loses its lease, so its worker's late write is
        refused by the token, and its attempt ends `cancelled` with the reason."""
        self.end_running_attempts(reason)
        return self.update(
            status=StepStatus.CANCELLED,
            **NOT_BLOCKED,
            finished_at=Now(),
            updated_at=Now(),
            **NO_LEASE,
        )

    def fail_with(self, reason: str) -> int:
        """Fail these steps with the reason (a mission's deadline passed); a running one loses
        its lease, so its worker's late write is refused by the token, and its attempt ends."""
        self.end_running_attempts(reason)
        return self.update(
            status=StepStatus.FAILED,
            last_error=reason,
            **NOT_BLOCKED,
            finished_at=Now(),
            updated_at=Now(),
            **NO_LEASE,
        )

    def end_running_attempts(self, reason: str) -> int:
        """The open attempts of those of these steps taken from their worker while it ran them:
        `cancelled`, saying why. Nothing else would close them once the lease is gone (the
        worker's own write is refused), so each would read `running` for ever."""
        running = list(self.filter(status=StepStatus.RUNNING).values_list("pk", flat=True))
        if not running:
            return 0
        open_attempts = StepAttempt.objects.filter(
            step_id__in=running, outcome=AttemptOutcome.RUNNING
        )
        return open_attempts.update(
            outcome=AttemptOutcome.CANCELLED, error=reason, finished_at=Now()
        )


class Step(models.Model):
    """One unit of work. Its row is the truth; broker messages are only wake-up hints."""

    # Named, not imported: missions.py imports proposals.py, which imports this module.
    mission = models.ForeignKey("missions.Mission", on_delete=models.PROTECT, related_name="steps")
    # Whole numbers checked by step_row_valid (not one CHECK a field: see there).
    position = models.IntegerField(default=0, validators=[MinValueValidator(0)])
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
    attempt_count = models.IntegerField(default=0, validators=[MinValueValidator(0)])
    max_attempts = models.IntegerField(default=3, validators=[MinValueValidator(1)])
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
    approved_digest = models.CharField(
        max_length=64, blank=True, help_text="sha256 of kind, agent and payload as approved"
    )
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
            # Quota counts (StepQuerySet.in_todays_quota) only read gated kinds (missions/gates.py):
            # their open steps and those finished today. Other steps skip this index.
            models.Index(
                fields=["kind", "status", "finished_at"],
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
            # Whole numbers in range, a blocked step says why, a running step holds exactly one
            # lease and any other none: CHECK (missions_step_row_valid(missions_step))
            # (missions/sql/step_row_valid.*.sql). Postgres sets up every CHECK of a table
            # again for each statement that writes it (twice a step): a call handed the whole
            # row is the cheapest tree it can read (opscore.row_checks).
            WholeRowCheck(
                function="missions_step_row_valid",
                fields=ROW_RULE_FIELDS,
                row_type="missions_step",
                name="step_row_valid",
            ),
        ]

    def __str__(self):
        return f"S{self.id} {self.kind}"

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL

    def content_digest(self) -> str:
        """What runs: the kind, whose it is and its payload (the approval is bound to it)."""
        return content_digest({"kind": self.kind, "agent": self.agent_id, "payload": self.payload})

    def bind_approval(self) -> None:
        self.approved_digest = self.content_digest()

    @property
    def changed_since_approval(self) -> bool:
        """True when the row no longer holds what was approved. A step made without an
        approval (none of the intake's: tests and benchmarks building rows directly) has no
        digest and nothing to compare."""
        return bool(self.approved_digest) and self.approved_digest != self.content_digest()

    def _leave(self, status: str, **fields) -> None:
        """Move to `status` holding no lease, writing only the fields that changed."""
        values = {"status": status, "updated_at": Now(), **NO_LEASE, **fields}
        for name, value in values.items():
            setattr(self, name, value)
        self.save(update_fields=list(values))

    def block(self, reason: str, code: str = "needs_human", error: str | None = None) -> None:
        extra = {} if error is None else {"last_error": error}
        self._leave(StepStatus.BLOCKED, blocked_reason=reason, blocked_code=code, **extra)

    def requeue(self, after_seconds: float = 0, error: str | None = None) -> None:
        """Back in the queue: a retry after backoff, or a blocker that cleared."""
        extra = {} if error is None else {"last_error": error}
        fields = {"run_after": in_seconds(after_seconds), **NOT_BLOCKED}
        self._leave(StepStatus.QUEUED, **fields, **extra)

    def retry(self) -> None:
        """A human sends the step back with one more attempt allowed."""
        self._leave(
            StepStatus.QUEUED,
            **NOT_BLOCKED,
            max_attempts=max(self.max_attempts, self.attempt_count + 1),
            run_after=Now(),
            finished_at=None,
        )

    def hand_back(self, error: str) -> None:
        """Back in the queue at once after its worker was told to stop mid-step: the attempt
        was not the step's fault, so it does not count against max_attempts."""
        self._leave(
            StepStatus.QUEUED,
            run_after=Now(),
            last_error=error,
            max_attempts=max(self.max_attempts, self.attempt_count + 1),
        )

    def finish(self, status: str, error: str) -> None:
        """Out of attempts (dead) or not retryable (failed). A step that leaves a block this
        way (its words refused) no longer says what it was waiting for."""
        self._leave(status, last_error=error, finished_at=Now(), **NOT_BLOCKED)

    def dead_letter(self, reason: str) -> None:
        Step.objects.filter(pk=self.pk).end_running_attempts(reason)
        self._leave(StepStatus.DEAD, last_error=reason, finished_at=Now(), **NOT_BLOCKED)


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
    LOST = "lost", "lost (its worker died, went silent or let its lease run out)"
    REFUSED = "refused", "refused (a guard refused the step's input)"
    BAD_REPLY = "bad_reply", "bad reply (the model's answer was unusable)"
    CONTENDED = "contended", "contended (the database chose it as a deadlock victim)"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted", "interrupted (the worker was told to stop)"
    TIMED_OUT = "timed_out", "timed out (ran past its step kind's timeout)"
    HELD = "held", "held (a switch over it was thrown while it ran; nothing applied)"


class StepAttempt(models.Model):
    """One row per try at a step: who ran it, when, and how it ended."""

    # attempt_no_unique (step, attempt_no) serves lookups by step. No database foreign key, as
    # for events: its check cost every claim's commit 46 k of a step's 1.7 M instructions; the
    # claim functions write attempts from the step they just leased, and PROTECT guards deletes.
    step = models.ForeignKey(
        Step,
        on_delete=models.PROTECT,
        related_name="attempts",
        db_index=False,
        db_constraint=False,
    )
    # No CHECK (a PositiveIntegerField's is set up for every statement writing the table): the
    # claim copies the number from the step's attempt_count, which step_row_valid keeps whole.
    attempt_no = models.IntegerField(validators=[MinValueValidator(0)])
    worker_id = models.CharField(max_length=200)
    lease_token = models.UUIDField(default=uuid.uuid4)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=12, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    error = models.TextField(blank=True)
    runtime_refs = models.JSONField(  # null: the claim function inserts attempts in SQL
        null=True, blank=True, help_text="an external runtime's task ref and session key"
    )

    class Meta:
        ordering = ["step_id", "attempt_no"]
        constraints = [
            models.UniqueConstraint(fields=["step", "attempt_no"], name="attempt_no_unique"),
        ]

    def __str__(self):
        return f"S{self.step_id} attempt {self.attempt_no}"
