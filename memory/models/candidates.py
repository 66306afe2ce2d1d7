"""Candidates: proposed memories waiting for the promotion gate, and every gate decision."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from memory.models.choices import (
    CandidateStatus,
    Decision,
    MemoryScope,
    MemoryType,
    Stability,
    Visibility,
)

OUTSIDE_RUNTIME = "agentbus:"  # the source_ref of a candidate an outside runtime wrote


class MemoryCandidate(models.Model):
    """Something an agent thinks the company should remember, with the evidence for it."""

    source_agent = models.ForeignKey(
        "opscore.Agent", on_delete=models.PROTECT, related_name="memory_candidates"
    )
    kind = models.CharField(max_length=20, choices=MemoryType.choices)
    scope = models.CharField(max_length=10, choices=MemoryScope.choices, default="agent")
    subject_key = models.CharField(max_length=200, blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    title = models.CharField(max_length=200)
    body = models.TextField()
    evidence = models.JSONField(default=list, help_text="[{type, id}, …], each resolvable")
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    stability = models.CharField(max_length=10, choices=Stability.choices, default="medium")
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.NEW
    )
    reviewer = models.CharField(max_length=150, blank=True)
    review_notes = models.TextField(blank=True)
    promoted_memory = models.ForeignKey(
        "memory.Memory", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    supersedes = models.ForeignKey(
        "memory.Memory",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the memory this one replaces: the same claim, newer",
    )
    source_ref = models.CharField(max_length=200, blank=True, help_text="e.g. conversation:3")
    source_refs = models.JSONField(
        default=list, blank=True, help_text="where it was read: URLs, file paths, documents"
    )
    untrusted_reason = models.CharField(
        max_length=300, blank=True, help_text="which untrusted content it derives from ('' = none)"
    )
    created_at = models.DateTimeField(db_default=Now())
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="new"), name="candidate_new_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_agent", "dedupe_key"],
                condition=Q(status="new", dedupe_key__isnull=False),
                name="candidate_open_dedupe_unique",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1),
                name="candidate_confidence_range",
            ),
        ]

    def __str__(self):
        return f"C{self.id} {self.kind}: {self.title}"

    @property
    def not_our_words(self) -> str:
        """Why its words are not Opscore's own ('' when they are): the untrusted content it
        cites, or the outside runtime that wrote it (whose own agent may still learn it)."""
        if self.untrusted_reason:
            return self.untrusted_reason
        if self.source_ref.startswith(OUTSIDE_RUNTIME):
            return f"written by {self.source_agent_id}'s runtime through the agent bus"
        return ""

    def rewritten_by_runtime(self, agent_slug: str) -> list[str]:
        """An outside runtime put its own words in (a curator's overrides): what the memory
        says is the runtime's, so it is marked as such, and shared it waits for a person as a
        shared candidate the runtime wrote would. The fields changed, to save."""
        if not self.source_ref.startswith(OUTSIDE_RUNTIME):
            self.source_ref = f"{OUTSIDE_RUNTIME}{agent_slug} over {self.source_ref}"[:200]
        if self.visibility == Visibility.SHARED and not self.untrusted_reason:
            why = f"shared knowledge rewritten by {agent_slug}'s runtime through the agent bus"
            self.untrusted_reason = why[:300]
        return ["source_ref", "untrusted_reason"]

    def close(self, status: str, reviewer: str, notes: str, memory=None) -> None:
        self.status, self.reviewer, self.review_notes = status, reviewer, notes[:2000]
        self.promoted_memory, self.reviewed_at = memory, Now()
        fields = ["status", "reviewer", "review_notes", "promoted_memory", "reviewed_at"]
        self.save(update_fields=fields)


class MemoryReview(models.Model):
    """One gate decision: who decided what about which rows, and why. Never edited."""

    decision = models.CharField(max_length=12, choices=Decision.choices)
    reviewer = models.CharField(max_length=150)
    reason = models.TextField()
    candidate = models.ForeignKey(
        MemoryCandidate, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    memory = models.ForeignKey(
        "memory.Memory", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    touched = models.JSONField(default=dict, blank=True, help_text="the rows it changed")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.decision} by {self.reviewer}"


class MemoryRevision(models.Model):
    """A human edit of a memory: old and new values, who and why. Never a silent overwrite."""

    memory = models.ForeignKey("memory.Memory", on_delete=models.PROTECT, related_name="revisions")
    old = models.JSONField()
    new = models.JSONField()
    changed_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"revision of M{self.memory_id} by {self.changed_by}"
