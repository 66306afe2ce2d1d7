"""Memories: what the company learned, with kind, scope, provenance, confidence and freshness."""

from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from memory.models.candidates import OUTSIDE_RUNTIME
from memory.models.choices import MemoryScope, MemoryStatus, MemoryType, Stability, Visibility


def search_vector():
    """What full-text search reads: the title and the subject key's words ('acme-corp' gives
    'acme' and 'corp') weigh A, the body weighs B, so a memory whose title names the query
    outranks one that mentions it in passing."""
    return SearchVector("title", "subject_key", config="english", weight="A") + SearchVector(
        "content", config="english", weight="B"
    )


def headline_vector():
    """The weight-A half of `search` on its own (title and subject key): a term found there
    counts twice in retrieval's score, and reading it stored costs no ts_filter per candidate."""
    return SearchVector("title", "subject_key", config="english", weight="A")


class SearchableLength(models.Func):
    """How many distinct lexemes of `search` a query can hold: the function and envelope words
    retrieval never searches for (memory_unsearched_lexemes, memory/sql) are left out, as they
    are out of the query. BM25's document length, stored so a retrieval computes none. That
    function is immutable: a new list of unsearched words comes with a migration that
    recomputes this column."""

    template = "length(ts_delete(%(expressions)s, memory_unsearched_lexemes()))"
    output_field = models.IntegerField()


def exact_words():
    """The same text's words as written, unstemmed: a query word found in its own form is a
    surer match than one that only shares a stem ("customers" in "customers" rather than
    "customer", "bill" rather than "billing"), so retrieval counts a stem-only match as half."""
    return SearchVector("title", "subject_key", "content", config="simple")


# a memory whose words are not Opscore's own: see MemoryCandidate.not_our_words
NOT_OURS = Q(candidate__untrusted_reason__gt="") | Q(
    candidate__source_ref__startswith=OUTSIDE_RUNTIME
)


class MemoryQuerySet(models.QuerySet):
    def active(self):
        """Active and not past its expiry (by the database clock)."""
        return self.filter(status=MemoryStatus.ACTIVE).exclude(expires_at__lte=Now())

    def readable_by(self, agent_slug: str):
        """Shared memories, and the agent's own private ones: never another agent's."""
        return self.filter(Q(visibility=Visibility.SHARED) | Q(agent_id=agent_slug))

    def replaceable_by(self, agent_slug: str, visibility: str):
        """What a candidate may supersede: a memory read where it would itself be read — its
        agent's own private ones, or, for a shared candidate, shared ones. A private memory
        never retires what every agent knows (shared knowledge changes as it is taught)."""
        if visibility == Visibility.SHARED:
            return self.filter(visibility=Visibility.SHARED)
        return self.filter(visibility=Visibility.PRIVATE, agent_id=agent_slug)

    def carried_by(self, calls):
        """The memories these LLM calls' prompts carried (each call's injected memory ids)."""
        refs = [r for r in calls.values_list("injected", flat=True) if isinstance(r, dict)]
        ids = {i for r in refs for i in r.get("memory_ids") or [] if isinstance(i, int)}
        return self.filter(pk__in=ids)

    def by_runtime(self, written: bool = True):
        """Those an outside runtime wrote through the agent bus (its candidate's source_ref),
        or, `written=False`, all the others."""
        runtime = Q(candidate__source_ref__startswith=OUTSIDE_RUNTIME)
        return self.filter(runtime) if written else self.exclude(runtime)

    def ours(self):
        """Those whose words are Opscore's own: none learned from untrusted content (whoever
        promoted it) or written by an outside runtime (see not_our_words)."""
        return self.exclude(NOT_OURS)

    def not_our_words(self) -> str:
        """Why one of these memories' words are not Opscore's own (the first by id; see
        MemoryCandidate.not_our_words), or '': what a prompt carrying it says is not either."""
        found = self.filter(NOT_OURS).select_related("candidate").order_by("id").first()
        return f"memory {found.id}: {found.candidate.not_our_words}" if found else ""


class Memory(models.Model):
    """A typed, confidence-weighted thing an agent learned. Retired, never deleted."""

    MIN_CONFIDENCE = Decimal("0.55")  # below this a distilled memory is not kept

    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="memories")
    type = models.CharField("kind", max_length=20, choices=MemoryType.choices)
    scope = models.CharField(max_length=10, choices=MemoryScope.choices, default="agent")
    subject_key = models.CharField(max_length=200, blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    title = models.CharField(max_length=200, blank=True)
    content = models.TextField()
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    stability = models.CharField(max_length=10, choices=Stability.choices, default="medium")
    tags = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=list, blank=True, help_text="[{type, id}, …]")
    candidate = models.ForeignKey(
        "memory.MemoryCandidate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="memories",
    )
    status = models.CharField(
        max_length=10, choices=MemoryStatus.choices, default=MemoryStatus.ACTIVE
    )
    source_trace_id = models.CharField(max_length=200, unique=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    valid_from = models.DateTimeField(db_default=Now())
    valid_to = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    next_review_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)
    calibration_log = models.JSONField(
        default=list, blank=True, help_text="the last 20 outcomes of steps its prompt carried"
    )
    flagged_at = models.DateTimeField(
        null=True, blank=True, help_text="when it kept preceding failures: due for review"
    )
    created_by = models.CharField(max_length=150, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    search = models.GeneratedField(
        expression=search_vector(),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    exact_words = models.GeneratedField(
        expression=exact_words(), output_field=SearchVectorField(), db_persist=True
    )
    headline = models.GeneratedField(
        expression=headline_vector(), output_field=SearchVectorField(), db_persist=True
    )
    searchable_length = models.GeneratedField(
        expression=SearchableLength(search_vector()),
        output_field=models.IntegerField(),
        db_persist=True,
    )

    objects = MemoryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "memories"
        indexes = [
            models.Index(fields=["agent", "status"], name="memory_agent_status_idx"),
            models.Index(
                fields=["scope", "subject_key", "type"],
                condition=Q(status="active"),
                name="memory_active_subject_idx",
            ),
            models.Index(
                fields=["next_review_at"],
                condition=Q(status="active", next_review_at__isnull=False),
                name="memory_review_due_idx",
            ),
            GinIndex(fields=["search"], condition=Q(status="active"), name="memory_active_search"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="memory_confidence_range"
            ),
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(status="active", dedupe_key__isnull=False),
                name="memory_active_dedupe_unique",
            ),
        ]

    def __str__(self):
        return f"{self.agent_id} {self.type}: {self.content[:50]}"

    @property
    def written_by_runtime(self) -> bool:
        """Its words are an outside runtime's, sent through the agent bus (see by_runtime)."""
        return bool(self.candidate_id) and self.candidate.source_ref.startswith(OUTSIDE_RUNTIME)

    CALIBRATION_LOG_LENGTH = 20

    def calibrate(self, succeeded: bool, policy, note: dict) -> bool:
        """Move confidence by the policy's bounded step for one outcome; True when this
        outcome completes a streak of failures long enough to flag the memory for review. The
        bounds stop a move, never reverse it: a success left a memory at 1.0 on the ceiling
        (0.95), lower, and a failure lifted one under the floor up to it."""
        delta = policy.success_delta if succeeded else -policy.failure_delta
        old = float(self.confidence)
        if succeeded:
            new = min(old + delta, max(old, policy.ceiling))
        else:
            new = max(old + delta, min(old, policy.floor))
        self.confidence = Decimal(str(new)).quantize(Decimal("0.01"))
        entry = {"outcome": "succeeded" if succeeded else "failed", "from": old, **note}
        entry["to"] = float(self.confidence)
        self.calibration_log = [*self.calibration_log, entry][-self.CALIBRATION_LOG_LENGTH :]
        streak = self.failure_streak()
        flag = not succeeded and streak == policy.flag_after_failures
        fields = ["confidence", "calibration_log"]
        if flag:
            self.flagged_at, self.next_review_at = Now(), Now()
            fields += ["flagged_at", "next_review_at"]
        self.save(update_fields=fields)
        return flag

    def failure_streak(self) -> int:
        streak = 0
        for entry in reversed(self.calibration_log):
            if entry.get("outcome") != "failed":
                break
            streak += 1
        return streak
