from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class MemoryType(models.TextChoices):
    INSIGHT = "insight"
    PATTERN = "pattern"
    STRATEGY = "strategy"
    PREFERENCE = "preference"
    LESSON = "lesson"


class MemoryStatus(models.TextChoices):
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    ARCHIVED = "archived", "archived (retired by the cap)"


class MemoryScope(models.TextChoices):
    """Whose memory it is; the roundtable writes agent-scoped memories."""

    GLOBAL = "global"
    AGENT = "agent"
    PROJECT = "project"
    PERSON = "person"
    SERVICE = "service"


class MemoryQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=MemoryStatus.ACTIVE)

    def retire_beyond_cap(self, agent_slug: str) -> int:
        """Keep at most Memory.MAX_ACTIVE_PER_AGENT active memories per agent: the least
        confident, then the oldest, retire (archived, never deleted)."""
        active = self.active().filter(agent_id=agent_slug)
        surplus = active.count() - Memory.MAX_ACTIVE_PER_AGENT
        if surplus <= 0:
            return 0
        retire = active.order_by("confidence", "created_at", "id").values_list("id", flat=True)
        return self.filter(id__in=list(retire[:surplus])).update(status=MemoryStatus.ARCHIVED)


class Memory(models.Model):
    """A typed, confidence-weighted thing an agent learned. Retired, never deleted."""

    MAX_ACTIVE_PER_AGENT = 200
    MIN_CONFIDENCE = Decimal("0.55")  # below this a distilled memory is not kept

    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="memories")
    type = models.CharField(max_length=20, choices=MemoryType.choices)
    scope = models.CharField(max_length=10, choices=MemoryScope.choices, default="agent")
    content = models.TextField()
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=MemoryStatus.choices, default=MemoryStatus.ACTIVE
    )
    source_trace_id = models.CharField(max_length=200, unique=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    created_at = models.DateTimeField(db_default=Now())

    objects = MemoryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "memories"
        indexes = [models.Index(fields=["agent", "status"], name="memory_agent_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="memory_confidence_range"
            ),
        ]

    def __str__(self):
        return f"{self.agent_id} {self.type}: {self.content[:50]}"

    @classmethod
    def keep_distilled(cls, trace_id: str, **fields) -> bool:
        """Keep a memory once per trace id (a retried distillation adds nothing), then apply
        the agent's cap. Returns whether a memory was added."""
        _, created = cls.objects.get_or_create(source_trace_id=trace_id, defaults=fields)
        if created:
            cls.objects.retire_beyond_cap(fields["agent_id"])
        return created
