"""Words a person approved for a step that posts text it did not carry when its proposal was
approved (a post_tweet posting the draft a model wrote): one row per decision, bound by the
sha256 of the exact text. Other words — a newer draft — are not approved by it."""

import hashlib

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from missions.models.steps import Step


def text_digest(text: str) -> str:
    """sha256 of the exact text, as a person is shown it beside the words."""
    return hashlib.sha256(text.encode()).hexdigest()


class WordsDecision(models.TextChoices):
    APPROVED = "approved"
    REFUSED = "refused"


class WordsApprovalQuerySet(models.QuerySet):
    def approving(self, step, text: str):
        return self.filter(step=step, digest=text_digest(text), decision=WordsDecision.APPROVED)


class WordsApproval(models.Model):
    """Immutable: who decided, when, on which words (digest and text) of which step."""

    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="words_decisions")
    digest = models.CharField(max_length=64, help_text="sha256 of the exact words decided on")
    words = models.TextField(help_text="the words as decided on, exactly")
    decision = models.CharField(max_length=10, choices=WordsDecision.choices)
    decided_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())

    objects = WordsApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["step", "digest"], name="words_step_digest_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision="refused") | ~Q(reason=""),
                name="words_refusal_has_reason",
            ),
        ]

    def __str__(self):
        return f"S{self.step_id} words {self.decision} by {self.decided_by}"
