"""Closing the loop: trigger rules, reactions, engagement metrics and event cursors."""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from missions.models.effects import Publication
from missions.models.proposals import Proposal


class TriggerRule(models.Model):
    """A condition that, when a checker finds it true, proposes work through the intake. It is
    disabled, never deleted: its skips (PROTECT) are the evidence of what it refused."""

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
    dropped_until = models.DateTimeField(
        null=True, blank=True, help_text="Window checkers: a drop pause refused what came before"
    )
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

    def drop_through(self, event, reason: str) -> "TriggerSkip":
        """Refuse for good what the rule would answer with `event` (the newest it has not
        seen): a row with the reason, and the cursor past it, so no later pass answers it. The
        cursor is a place in the log (xact, id): an event past it may have a lower id."""
        self.last_seen_event_id = event.id
        self.save(update_fields=["last_seen_event_id"])
        return TriggerSkip.objects.create(rule=self, event=event, reason=reason[:300])

    @property
    def window_start(self):
        """Where a window checker (what was published, measured… since) starts reading: after
        the rule last fired, or after what a drop pause refused, whichever is later."""
        marks = (self.last_fired_at, self.dropped_until)
        return max((mark for mark in marks if mark is not None), default=None)

    def drop_window(self, row, reason: str) -> "TriggerSkip":
        """Refuse for good what a window checker would answer with `row` (a Publication or a
        ContentMetric) and the rest of its window: a row with the reason, and the window's
        start moved to now by the database clock, as a fire moves it (last_fired_at is left
        alone: the rule did not fire, and its cooldown does not start)."""
        self.dropped_until = Now()
        self.save(update_fields=["dropped_until"])
        self.refresh_from_db(fields=["dropped_until"])
        subject = {"publication": row} if isinstance(row, Publication) else {"metric": row}
        return TriggerSkip.objects.create(rule=self, reason=reason[:300], **subject)


class TriggerSkip(models.Model):
    """Work a rule did not propose, and why: the triggers lane paused in drop mode, or the pair
    (the event's writer and the rule's agent) paused. Like a skipped Reaction, it is the
    evidence that what arrived was seen and refused, not lost: an event (reactive rules), or the
    post or measurement a window checker would have answered."""

    rule = models.ForeignKey(TriggerRule, on_delete=models.PROTECT, related_name="skips")
    event = models.ForeignKey(
        "opscore.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    publication = models.ForeignKey(
        Publication, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    metric = models.ForeignKey(
        "ContentMetric", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(event__isnull=False, publication__isnull=True, metric__isnull=True)
                | Q(event__isnull=True, publication__isnull=False, metric__isnull=True)
                | Q(event__isnull=True, publication__isnull=True, metric__isnull=False),
                name="trigger_skip_names_one_thing",
            ),
        ]

    def __str__(self):
        return f"{self.rule_id} skipped {self.skipped}"

    @property
    def skipped(self) -> str:
        """What was refused, as the admin lists it."""
        if self.event_id:
            return f"#{self.event_id}"
        if self.publication_id:
            return f"publication {self.publication_id}"
        return f"metric {self.metric_id}"


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
        # The tweet_high_engagement checker's lookback: measured since its window start.
        indexes = [models.Index(fields=["measured_at"], name="metric_measured_idx")]

    def __str__(self):
        return f"{self.post_ref}: {self.engagement_rate:.2%}"


class LoopCursor(models.Model):
    """How far a loop has come through its rows: the event log (the reaction matcher), the
    blocked steps (the blocker sweep, which rotates through them)."""

    name = models.CharField(primary_key=True, max_length=64)
    position = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}@{self.position}"
