"""Standing orders and their runs: one row per expected slot."""

from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now

from opscore.models.agents import Agent

# A slot from just before an order's creating transaction committed is still its first.
FIRST_SLOT_LEEWAY = timedelta(minutes=1)
# The gap check counts back from now by these: a grace past the day it looks back over would
# never record a slot missed, and any positive integer of minutes (2147483647) falls before
# year 1, an OverflowError that stopped the check for every order on every beat.
MAX_GRACE_MINUTES = 24 * 60
MAX_TIMEOUT_MINUTES = 7 * 24 * 60


class StandingOrder(models.Model):
    """A duty an agent must perform on a schedule, whose every expected run leaves a row."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="standing_orders")
    name = models.SlugField(max_length=80)
    cron = models.CharField(max_length=100, help_text="Five-field cron, in `timezone`")
    timezone = models.CharField(max_length=64, default="UTC")
    # At least a minute each: a grace of 0 called every slot fired a second late missed, a
    # timeout of 0 failed a run still working at the next gap check.
    grace_minutes = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_GRACE_MINUTES)]
    )
    timeout_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_MINUTES)]
    )
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
    # The gap check's cursor: every slot up to it has a row or was found missed. It goes on
    # from here, so a downtime longer than its first look back still leaves a row per slot.
    gaps_checked_until = models.DateTimeField(null=True, blank=True, editable=False)

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

    def expected_slots(self, since, until, limit: int | None = None) -> list:
        """Every slot the schedule asks for in (since, until], as aware UTC datetimes: the
        first `limit` of them (MAX_SLOTS when not given)."""
        from opscore.schedule_math import MAX_SLOTS, slots_between

        return slots_between(self.cron, self.timezone, since, until, limit or MAX_SLOTS)

    def first_slot(self):
        """The first slot this order owes: `fire()` never runs one from before its creation (a
        minute's leeway for the creating transaction), so a monthly order created on the 2nd
        owes nothing until the 1st of next month."""
        from opscore.schedule_math import next_slot

        return next_slot(self.cron, self.timezone, self.created_at - FIRST_SLOT_LEEWAY)


class RunStatus(models.TextChoices):
    STARTED = "started"
    NO_WORK = "no_work", "no work (ran, found nothing)"
    COMPLETED = "completed"
    BLOCKED = "blocked"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed", "missed (did not run)"


RUN_TERMINAL = [s for s in RunStatus.values if s != RunStatus.STARTED]
# A `no_work` the agent's off switch recorded (opscore.standing_orders.agent_disabled) ran no
# handler: its evidence says what it checked, the switch, and it is no look at the order's work.
SWITCHED_OFF = models.Q(evidence__contains={"checked": {"enabled": False}})


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

    def local_slot(self):
        """The slot on the order's own clock, the zone its cron is written in: the day (or week)
        a daily notice is named and deduplicated by. The UTC date put an evening slot in New
        York on the next day, and on the spring change two slots on one day (the second
        digest was taken for the first), a morning slot in Tokyo on the day before."""
        from opscore.schedule_math import zone

        return self.scheduled_for.astimezone(zone(self.order.timezone))

    def window_start(self, span: timedelta):
        """Where a run that reports what is new begins: `span` before its slot or, earlier, the
        slot of this order's last run that looked (completed or found nothing). A slot a lane's
        pause held runs once the pause ends, folded into the latest: a window of `span` before
        that one lost what arrived in the slots before it, never reported. A slot its agent's
        off switch stopped looked at nothing: counted, what came before it was never read."""
        return self.window(span)[0]

    def window(self, span: timedelta) -> tuple:
        """window_start, and the event log place its window begins at (None: by time): the
        place the last look kept (`after_event` in its evidence) when the window begins at that
        look. By time alone, an event whose transaction began before that look and committed
        after it was in no window."""
        looked = (
            self.order.runs.filter(
                scheduled_for__lt=self.scheduled_for,
                status__in=[RunStatus.COMPLETED, RunStatus.NO_WORK],
            )
            .exclude(SWITCHED_OFF)
            .order_by("-scheduled_for")
            .values_list("scheduled_for", "evidence")
            .first()
        )
        start = self.scheduled_for - span
        if looked is None or looked[0] > start:
            return start, None
        return looked[0], (looked[1] or {}).get("after_event")
