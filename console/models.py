"""Per-agent credentials for the agent API (HTTP and MCP): what an outside runtime holds
instead of DATABASE_URL. The secret is shown once, when issued; only its sha256 is stored."""

import hashlib
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, models
from django.db.models.functions import Now

from opscore.actions import record_event
from opscore.models import Runtime

PREFIX = "opsa_"


def digest(secret: str) -> str:
    """sha256, not a slow password hash: the secret is 256 random bits, so there is nothing to
    brute-force, and every API call checks it. A secret read from the environment keeps bytes
    that are not UTF-8 as surrogates (os.fsdecode), which UTF-8 cannot encode: passed through,
    such a secret is a wrong token, not a UnicodeEncodeError's traceback."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Admission:
    """One authenticated call: whose token, and whether it is within its rate. `refused` says
    why a valid token's call is not taken for its agent's sake (disabled, or not run outside):
    told to the token's holder only, who knows its agent already."""

    token_id: int
    agent: str
    retry_after: int  # seconds until the window resets; 0 when the call is admitted
    refused: str = ""

    @property
    def admitted(self) -> bool:
        return self.retry_after == 0 and not self.refused


# One statement authenticates, counts the call in its minute (the database's clock) and marks
# the token used, so a rate limit costs no extra round trip and holds across processes.
ADMIT_SQL = """
UPDATE console_agenttoken SET
    window_count = CASE WHEN window_start = date_trunc('minute', statement_timestamp())
                        THEN window_count + 1 ELSE 1 END,
    window_start = date_trunc('minute', statement_timestamp()),
    last_used_at = statement_timestamp()
WHERE digest = %s AND revoked_at IS NULL
  AND agent_id IN (SELECT slug FROM opscore_agent WHERE enabled AND runtime = 'external')
RETURNING id, agent_id, window_count,
    extract(epoch FROM window_start + interval '1 minute' - statement_timestamp())
"""


class AgentTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def admit(self, secret: str) -> Admission | None:
        """None for an unknown or revoked token; else the admission, refused over the rate or
        for its agent's sake (disabled, or no longer run by an outside runtime)."""
        if not secret.startswith(PREFIX):
            return None
        with connection.cursor() as cursor:
            cursor.execute(ADMIT_SQL, [digest(secret)])
            row = cursor.fetchone()
        if row is None:
            return self.refused_for_its_agent(secret)
        token_id, agent, count, left = row
        limit = settings.OPS_AGENT_API_RATE_PER_MINUTE
        if count == limit + 1:  # the window's first refusal: one event a minute, not one a call
            record_rate_limited(token_id, agent, limit)
        return Admission(token_id, agent, max(1, math.ceil(left)) if count > limit else 0)

    def refused_for_its_agent(self, secret: str) -> Admission | None:
        """A live token the admission did not take: its agent is why, and the holder is told
        which way (else it was sent to the token, and an operator rotated a good one)."""
        token = self.active().filter(digest=digest(secret)).select_related("agent").first()
        if token is None:
            return None
        agent = token.agent
        if not agent.enabled:
            why = f"agent {agent.slug} is disabled: its token is refused until it is enabled"
        elif agent.runtime != Runtime.EXTERNAL:
            why = f"agent {agent.slug} is internal (Opscore's workers run it): no outside calls"
        else:
            return None  # its agent changed back meanwhile: the caller may simply retry
        return Admission(token.id, agent.slug, 0, refused=why)


def record_rate_limited(token_id: int, agent: str, limit: int) -> None:
    """A runtime refused over its rate is told so (429), and so is the operator: without a
    row, a runtime looping on its calls, or stuck retrying, showed nowhere but in its own
    logs. The count that crossed the limit is read from the same UPDATE, so of two calls
    racing past it only one records it."""
    calls = f"{limit} call{'s' if limit != 1 else ''}"
    record_event(
        "agent_token.rate_limited",
        f"API token of {agent} over its rate ({calls} a minute): refused until the minute ends",
        tags=["security", "agent_api"],
        payload={"credential_id": token_id, "limit_per_minute": limit},
        agent_id=agent,
        actor="agent_api",
    )


class AgentToken(models.Model):
    """A credential scoped to one agent's jobs, events, candidates, opportunities and ideas."""

    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=100, help_text="Which runtime holds it, e.g. openclaw-vps")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="The secret's first letters")
    created_at = models.DateTimeField(db_default=Now())
    created_by = models.CharField(max_length=150, editable=False)
    last_used_at = models.DateTimeField(null=True, editable=False)
    revoked_at = models.DateTimeField(null=True, editable=False)
    revoked_by = models.CharField(max_length=150, blank=True, editable=False)
    window_start = models.DateTimeField(null=True, editable=False)
    window_count = models.PositiveIntegerField(default=0, editable=False)

    objects = AgentTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.agent_id}: {self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, agent, name: str, *, actor: str) -> tuple["AgentToken", str]:
        """A new token; the secret is returned here and never again."""
        secret = PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            agent=agent, name=name, digest=digest(secret), hint=secret[:9], created_by=actor
        )
        record_event(
            "agent_token.issued",
            f"API token {token.hint}… issued for {agent}",
            tags=["security", "agent_api"],
            payload={"credential_id": token.id, "name": name},
            agent_id=token.agent_id,
            actor=actor,
        )
        return token, secret

    def revoke(self, *, actor: str) -> bool:
        revoked = (
            AgentToken.objects.active()
            .filter(pk=self.pk)
            .update(revoked_at=Now(), revoked_by=actor)
        )
        if revoked:
            record_event(
                "agent_token.revoked",
                f"API token {self.hint}… of {self.agent_id} revoked",
                tags=["security", "agent_api"],
                payload={"credential_id": self.id, "name": self.name},
                agent_id=self.agent_id,
                actor=actor,
            )
        return bool(revoked)


class ChatRole(models.TextChoices):
    OPERATOR = "operator"
    COORDINATOR = "coordinator"


class DraftState(models.TextChoices):
    NONE = "", "no draft"
    DRAFTED = "drafted", "drafted (shown, not submitted)"
    SUBMITTED = "submitted", "submitted to the intake"
    DISCARDED = "discarded"


class ChatMessage(models.Model):
    """One message of an operator's chat with the company: theirs, or the coordinator's answer
    with the rows it read (`citations`) and, when they asked for work, the proposal it drafted.
    A draft reaches the intake only when its operator confirms it (console.chat.confirm_draft)."""

    actor = models.CharField(max_length=150, help_text="whose chat: operator:ann, api:…")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    role = models.CharField(max_length=12, choices=ChatRole.choices)
    text = models.TextField()
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    citations = models.JSONField(default=list, blank=True, help_text="[{ref, url, what}]")
    offline = models.BooleanField(default=False, help_text="no model wrote the answer")
    draft = models.JSONField(null=True, blank=True, help_text="the proposal body it would submit")
    draft_state = models.CharField(
        max_length=10, choices=DraftState.choices, default=DraftState.NONE, blank=True
    )
    proposal = models.ForeignKey(
        "missions.Proposal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    llm_call = models.ForeignKey(
        "opscore.LLMCall", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor", "id"], name="chat_actor_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(draft_state="submitted") | models.Q(proposal__isnull=False),
                name="chat_submitted_draft_has_proposal",
            ),
        ]

    def __str__(self):
        return f"C{self.id} {self.role}"

    def settle_draft(self, state: str, proposal=None) -> bool:
        """drafted → submitted or discarded, once: a compare-and-set, so a double click (or two
        tabs) submits one proposal."""
        moved = ChatMessage.objects.filter(pk=self.pk, draft_state=DraftState.DRAFTED).update(
            draft_state=state, proposal=proposal
        )
        if moved:
            self.draft_state, self.proposal = state, proposal
        return bool(moved)
