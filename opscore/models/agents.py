"""Agents: the members of the company."""

import hashlib

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Now

from opscore.text import strip_invisible
from opscore.web_urls import validate_usable_url


class Runtime(models.TextChoices):
    """Who runs an agent's jobs. Exactly one owner: Opscore's workers never claim an external
    agent's jobs, and an outside runtime only ever claims its own external agent's."""

    INTERNAL = "internal", "internal (Opscore's workers)"
    EXTERNAL = "external", "external (an outside runtime through the agent bus)"


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
    draining = models.BooleanField(
        default=False, help_text="Set by a drain override: its queued work is not claimed."
    )
    roster = models.CharField(max_length=64, blank=True)
    runtime = models.CharField(
        max_length=16,
        choices=Runtime.choices,
        default=Runtime.INTERNAL,
        help_text="External: only an outside runtime (agent bus, HTTP or MCP) claims its jobs; "
        "code-change jobs still run in Opscore.",
    )
    wake_url = models.URLField(
        blank=True,
        max_length=500,
        validators=[validate_usable_url],
        help_text="External only: POSTed (seed 004's /hooks/agent body) when work is waiting.",
    )
    created_at = models.DateTimeField(db_default=Now())

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_concurrent_steps__gte=1), name="agent_concurrency_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(runtime__in=Runtime.values), name="agent_runtime_known"
            ),
        ]

    def __str__(self):
        return self.slug

    VOICE_FIELDS = ("display_name", "role", "tone", "quirk", "signature", "system_directive")

    def clean(self):
        """A name or voice typed in a form (the admin's, often pasted) keeps no character that
        hides or reorders text: a U+202E in a display name reversed the rest of every Stage
        line it printed on, and reached the model's prompt unseen by the people reading it."""
        for field in self.VOICE_FIELDS:
            setattr(self, field, strip_invisible(getattr(self, field)))

    @property
    def actor(self) -> str:
        return f"agent:{self.slug}"

    def voice_version(self, modifiers: list[str] = ()) -> str:
        """Changes whenever the voice's text does (its evolution included): recorded on every
        LLM call, so a reply can be traced to the exact voice that produced it."""
        return "voice-" + hashlib.sha256(self.voice(modifiers).encode()).hexdigest()[:10]

    def voice(self, modifiers: list[str] = ()) -> str:
        """The system prompt that makes every call of this agent sound like it; `modifiers` are
        what its memories taught it (voice evolution), appended under their own heading."""
        parts = [f"You are {self.display_name}, the company's {self.role}."]
        if self.tone:
            parts.append(f"Your tone: {self.tone}.")
        if self.quirk:
            parts.append(f"Your quirk: {self.quirk}.")
        if self.signature:
            parts.append(f'You sometimes say: "{self.signature}"')
        if self.system_directive:
            parts.append(self.system_directive)
        voice = " ".join(parts)
        if modifiers:
            voice += "\n\nPersonality evolution:\n" + "\n".join(f"- {m}" for m in modifiers)
        return voice


ACTOR_LENGTH = 150  # every actor column's width (events, refusals, decisions)


def operator_actor(user) -> str:
    """`operator:<username>`, without the characters that hide or reorder text (a bidi override
    in a name turned the rest of a feed line around), within ACTOR_LENGTH: a username may be
    150 characters itself, and one that did not fit failed the write that named it. A longer
    one keeps its start and a digest of the whole, so two long names sharing a prefix stay two
    operators."""
    if not user:
        return "operator:unknown"
    return within_actor_length(f"operator:{strip_invisible(user.get_username())}")


def within_actor_length(actor: str) -> str:
    """`actor` if it fits the actor columns; else its start, "~" and a digest of the whole:
    the same name always comes back the same, two names sharing a long start stay two."""
    if len(actor) <= ACTOR_LENGTH:
        return actor
    digest = hashlib.sha256(actor.encode()).hexdigest()[:10]
    return f"{actor[: ACTOR_LENGTH - 11]}~{digest}"
