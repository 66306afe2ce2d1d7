from datetime import timedelta
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now


class ConversationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DISTILL_FAILED = "distill_failed", "distillation failed"
    SKIPPED = "skipped", "skipped (slot not held)"


# Who may ask for a conversation on a topic Opscore wrote itself (the hourly schedule, the
# first-boot plan); any other source (the API, `converse --topic`) brought operator text.
OWN_TOPIC_SOURCES = ("schedule", "first-boot")
LEASE = timedelta(minutes=15)  # longer than any one turn's LLM deadline; every turn renews it


class Conversation(models.Model):
    format = models.CharField(max_length=40)
    topic = models.CharField(max_length=300)
    participants = ArrayField(models.CharField(max_length=64))
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.QUEUED
    )
    source = models.CharField(max_length=20, default="schedule")
    requested_by = models.CharField(max_length=150, blank=True)
    slot_day = models.DateField(null=True, blank=True)
    slot_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    distillation = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot_day", "slot_hour"],
                condition=Q(slot_day__isnull=False),
                name="conversation_one_per_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="queued"), name="conversation_queued"),
        ]

    def __str__(self):
        return f"C{self.id} {self.format}: {self.topic}"

    def topic_untrusted(self) -> str:
        """A topic from outside is untrusted text, as a chat message is: what the models say
        on it is not Opscore's own words. Why, or ''."""
        if self.source in OWN_TOPIC_SOURCES:
            return ""
        return f"C{self.id}'s topic is operator text (asked through {self.source or 'unknown'})"

    def _as_seen(self):
        """This row as long as nobody else has changed hands since we read it: recovery fails
        a conversation whose lease ran out, and a worker that lost it must write nothing."""
        return Conversation.objects.filter(
            pk=self.pk, status=self.status, lease_owner=self.lease_owner
        )

    def start(self, worker_id: str) -> bool:
        """Queued → running under `worker_id`'s lease; False if it was no longer queued."""
        started = (
            self._as_seen()
            .filter(status=ConversationStatus.QUEUED)
            .update(
                status=ConversationStatus.RUNNING,
                lease_owner=worker_id,
                lease_expires_at=Now() + LEASE,
                started_at=Now(),
            )
        )
        self.refresh_from_db()
        return bool(started)

    def renew_lease(self) -> bool:
        """Push the lease out again; False means it is no longer ours. A conversation held
        without a lease (tests run one directly) has nothing to renew."""
        if not self.lease_owner:
            return True
        return bool(self._as_seen().update(lease_expires_at=Now() + LEASE))

    def excuse(self, absent: list[str]) -> bool:
        """Drop participants who may no longer take part, only while this worker holds it:
        what follows (turns, distillation's memories and drift) reads `participants`."""
        present = [p for p in self.participants if p not in absent]
        excused = self._as_seen().update(participants=present)
        self.refresh_from_db()
        return bool(excused)

    def finish(self, status: str, error: str) -> bool:
        """Running → its outcome, only by whoever still holds it."""
        finished = self._as_seen().update(
            status=status, error=error, lease_owner="", lease_expires_at=None, finished_at=Now()
        )
        self.refresh_from_db()
        return bool(finished)


class Turn(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    speaker = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    interaction = models.CharField(max_length=20)
    text = models.CharField(max_length=120)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["conversation_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"], name="turn_index_unique"),
        ]

    def __str__(self):
        return f"{self.speaker_id}: {self.text}"


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class RelationshipQuerySet(models.QuerySet):
    def affinity_table(self, slugs) -> dict:
        rows = self.filter(agent_a__in=slugs, agent_b__in=slugs)
        return {(r.agent_a_id, r.agent_b_id): float(r.affinity) for r in rows}


def affinity_lookup(table: dict):
    """affinity(a, b) from a table; a pair never met (or no speaker yet) reads 0.5."""
    return lambda a, b: table.get(pair(a, b), 0.5) if a and b else 0.5


class Relationship(models.Model):
    """One row per pair of agents, the pair in alphabetical order (the database insists)."""

    MIN_AFFINITY, MAX_AFFINITY = 0.10, 0.95
    DRIFT_LOG_LENGTH = 20

    agent_a = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    agent_b = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="+")
    affinity = models.DecimalField(max_digits=3, decimal_places=2, default=0.50)
    total_interactions = models.PositiveIntegerField(default=0)
    positive_interactions = models.PositiveIntegerField(default=0)
    negative_interactions = models.PositiveIntegerField(default=0)
    drift_log = models.JSONField(default=list, blank=True)
    backstory = models.CharField(max_length=300, blank=True)

    objects = RelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["agent_a_id", "agent_b_id"]
        constraints = [
            models.UniqueConstraint(fields=["agent_a", "agent_b"], name="relationship_pair"),
            models.CheckConstraint(condition=Q(agent_a__lt=F("agent_b")), name="pair_in_order"),
            models.CheckConstraint(
                condition=Q(affinity__gte=0.10, affinity__lte=0.95), name="affinity_bounds"
            ),
        ]

    def __str__(self):
        return f"{self.agent_a_id}↔{self.agent_b_id} {self.affinity}"

    def drift(self, drift: float, max_drift: float, note: dict) -> Decimal:
        """Clamp a drift to ±max_drift and the affinity to [0.10, 0.95]; keep the last 20."""
        step = max(-max_drift, min(max_drift, drift))
        bounded = min(self.MAX_AFFINITY, max(self.MIN_AFFINITY, float(self.affinity) + step))
        self.affinity = Decimal(str(bounded)).quantize(Decimal("0.01"))
        self.total_interactions += 1
        self.positive_interactions += step > 0
        self.negative_interactions += step < 0
        entry = {"drift": round(step, 4), **note, "affinity": float(self.affinity)}
        self.drift_log = [*self.drift_log, entry][-self.DRIFT_LOG_LENGTH :]
        self.save()
        return self.affinity
