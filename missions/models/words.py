"""Words a person approved for a step that posts text it did not carry when its proposal was
approved (a post_tweet posting the draft a model wrote): one row per decision, bound by the
sha256 of the exact text. Other words — a newer draft — are not approved by it. A refusal binds
its own step, and warns every card that shows the same words later (`refusals_of`)."""

import hashlib

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from missions.models.steps import Step
from missions.text import reveal_invisible


def text_digest(text: str) -> str:
    """sha256 of the exact text, as a person is shown it beside the words."""
    return hashlib.sha256(text.encode()).hexdigest()


class WordsDecision(models.TextChoices):
    APPROVED = "approved"
    REFUSED = "refused"


class WordsApprovalQuerySet(models.QuerySet):
    def approving(self, step, text: str):
        return self.filter(step=step, digest=text_digest(text), decision=WordsDecision.APPROVED)

    def refusals_of(self, texts) -> dict[str, list[dict]]:
        """digest → every refusal of exactly those words, on any step, oldest first: words a
        person refused once are shown to the next person with that refusal, never as new."""
        digests = sorted({text_digest(text) for text in texts})
        if not digests:
            return {}
        found = {}
        for row in self.filter(decision=WordsDecision.REFUSED, digest__in=digests).order_by("id"):
            found.setdefault(row.digest, []).append(row.refusal_note())
        return found


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
        indexes = [
            models.Index(fields=["step", "digest"], name="words_step_digest_idx"),
            # refusals_of, on every card that shows words: few refusals, so a partial index.
            models.Index(
                fields=["digest"], condition=Q(decision="refused"), name="words_refused_digest_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision="refused") | ~Q(reason=""),
                name="words_refusal_has_reason",
            ),
        ]

    def __str__(self):
        return f"S{self.step_id} words {self.decision} by {self.decided_by}"

    def refusal_note(self) -> dict:
        """The refusal as a card shows it (and its digest binds): who, when, where, why."""
        return {
            "step": self.step_id,
            "by": self.decided_by,
            "at": self.created_at.isoformat(timespec="seconds"),
            "reason": reveal_invisible(" ".join(self.reason.split())),
        }


def refusal_line(note: dict) -> str:
    """One line of text for a refusal_note (the CLI's; the templates say the same)."""
    return f"refused before by {note['by']} on S{note['step']} ({note['at']}): {note['reason']}"
