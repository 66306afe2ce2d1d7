"""Proposals: requests for work, as the single intake admitted or refused them."""

import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from missions.models.effects import Artifact
from missions.models.steps import Step
from missions.models.words import WordsApproval, text_digest
from missions.text import reveal_invisible
from opscore.db import start_of_today
from opscore.digests import content_digest
from opscore.registry import STEP_KINDS, STEP_PREVIEWS


class ProposalSource(models.TextChoices):
    API = "api", "API"
    TRIGGER = "trigger", "trigger"
    REACTION = "reaction", "reaction"
    INITIATIVE = "initiative", "initiative"
    CONVERSATION = "conversation", "conversation"
    OPPORTUNITY = "opportunity", "opportunity"
    CODING = "coding", "coding"
    HUMAN = "human", "human"
    CHAT = "chat", "chat"
    PLAN = "plan", "first-boot plan"


class ProposalStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class RejectionCode(models.TextChoices):
    AGENT_DISABLED = "agent_disabled"
    DAILY_LIMIT = "daily_limit"
    CAP_GATE = "cap_gate"
    LANE_PAUSED = "lane_paused"
    OPERATOR = "operator"


# Refusals at the door do not spend an agent's daily allowance. The intake decides them as
# THE_DOOR; a person's approval refusing work whose agent was switched off since, does not:
# that work came in, and spent it.
REFUSED_AT_THE_DOOR = [RejectionCode.AGENT_DISABLED, RejectionCode.DAILY_LIMIT]
THE_DOOR = "system:intake"


def shown(value) -> str:
    """A payload value as the approver reads it: text as it will act (a bidi override named,
    not obeyed), anything else as JSON."""
    if isinstance(value, str):
        return reveal_invisible(value)
    return reveal_invisible(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def preview(kind: str, payload: dict) -> str:
    show = STEP_PREVIEWS.get(kind)
    return reveal_invisible(show(payload)) if show else ""


def written_by(step_ids: list[int], refused: dict | None = None) -> list[dict]:
    """What the existing steps a step waits for have written, as the approver reads it: a
    post_tweet waiting on a draft posts that draft's words (the newest), so its card shows
    them, or says that none are written yet; and, beside words a person refused before, that
    refusal (`refused`: refused_before's answer)."""
    steps = Step.objects.filter(pk__in=step_ids).prefetch_related("artifacts").order_by("id")
    made = [(step, sorted(step.artifacts.all(), key=lambda a: a.id)) for step in steps]
    return [
        {
            "step": f"S{step.id} {step.kind}",
            "status": step.status,
            "texts": [reveal_invisible(a.body) for a in artifacts],
            "words": [
                {
                    "text": reveal_invisible(a.body),
                    "refused_before": (refused or {}).get(text_digest(a.body), []),
                }
                for a in artifacts
            ],
        }
        for step, artifacts in made
    ]


def written_texts(step_ids) -> dict[str, list[str]]:
    """The exact words those steps have written, for the approval's digest: approving a card
    that showed them approves them (missions.words), and a newer one is not covered."""
    rows = Artifact.objects.filter(step__in=step_ids).order_by("id")
    written = {str(i): [] for i in step_ids}
    for step_id, body in rows.values_list("step_id", "body"):
        written[str(step_id)].append(body)
    return written


def own_words(kind: str, payload: dict) -> list[str]:
    """The words a step posts from its own payload (a post_tweet's text), approved with it."""
    step_kind = STEP_KINDS.get(kind)
    fields = step_kind.fields if step_kind else ()
    return [str(payload[f.name]) for f in fields if f.or_from and payload.get(f.name)]


def refused_before(content: dict) -> dict[str, list[dict]]:
    """digest → the refusals of words the card shows that a post would post (a draft written,
    a post's own text): a person's refusal elsewhere is shown beside the same words here."""
    texts = [text for texts in content.get("written", {}).values() for text in texts]
    for spec in content["steps"]:
        texts += own_words(spec["kind"], spec.get("payload") or {})
    return WordsApproval.objects.refusals_of(texts)


def takes_words(kind: str, payload: dict) -> bool:
    """Whether the step takes a field's words from a step it waits for (a post_tweet without
    text): those words need a person's approval of their own unless the card showed them."""
    step_kind = STEP_KINDS.get(kind)
    fields = step_kind.fields if step_kind else ()
    return any(f.or_from and not payload.get(f.name) for f in fields)


def proposed_work(agent: str, kinds: list[str]) -> tuple:
    return (agent, tuple(kinds))


class ProposalQuerySet(models.QuerySet):
    def work_proposed(self) -> dict[tuple, int]:
        """(agent, step kinds) → proposal id, e.g. for the proposals answering one event: a
        trigger rule and a reaction pattern answering it for the same agent propose the same
        work once (missions.loop)."""
        rows = self.order_by("id").values_list("id", "agent_id", "proposed_steps")
        work = {}
        for pk, agent, steps in rows:
            work.setdefault(proposed_work(agent, [s["kind"] for s in steps]), pk)
        return work

    def created_today(self):
        return self.filter(created_at__gte=start_of_today())

    def decided_today(self):
        """Decided since midnight, whenever made: one that waited overnight for a person was
        rejected today, though made yesterday."""
        return self.filter(decided_at__gte=start_of_today())

    def charged_to(self, agent):
        """What an agent's daily allowance paid for: its own proposals, and the work its runtime
        handed to another agent (the other never pays for words put in its name)."""
        return self.filter(Q(agent=agent, handed_by__isnull=True) | Q(handed_by=agent))

    def counting_toward_daily_limit(self):
        """Proposals an agent spent its allowance on; refusals at the door do not count."""
        return self.exclude(rejection_code__in=REFUSED_AT_THE_DOOR, decided_by=THE_DOOR)


class Proposal(models.Model):
    """A request for work. Enters only through `missions.actions.submit_proposal`."""

    agent = models.ForeignKey("opscore.Agent", on_delete=models.PROTECT, related_name="proposals")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=ProposalSource.choices)
    cause_event = models.ForeignKey(
        "opscore.Event",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="caused_proposals",
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    cause_ref = models.CharField(
        max_length=200, blank=True, help_text="e.g. trigger_rule:12, reaction:7, conversation:3"
    )
    proposed_by = models.CharField(
        max_length=150,
        blank=True,
        help_text="who put it in, as they authenticated: operator:<name>, cli:<name>, "
        "api:token:<digest>; blank for work an agent or rule proposed itself",
    )
    handed_by = models.ForeignKey(
        "opscore.Agent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handed_proposals",
        help_text="the agent whose runtime handed this work over (its daily limit pays for it)",
    )
    proposed_steps = models.JSONField(default=list)
    goal = models.ForeignKey(
        "missions.Goal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
        help_text="the goal this work serves, named at the intake",
    )
    gate_decision = models.JSONField(
        default=dict, blank=True, help_text="what the gates weighed, e.g. goal_preference"
    )
    needs_human = models.BooleanField(
        default=False, help_text="never auto-approved: e.g. an irreversible opportunity"
    )
    context = models.JSONField(
        default=dict,
        blank=True,
        help_text="why the proposer chose this: e.g. memory_influenced and the memory ids",
    )
    status = models.CharField(
        max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    reason = models.TextField(blank=True)
    rejection_code = models.CharField(max_length=20, choices=RejectionCode.choices, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    untrusted = models.BooleanField(
        default=False, help_text="Derived from outside content: never auto-approved"
    )
    untrusted_reason = models.CharField(
        max_length=300, blank=True, help_text="which outside content it derives from"
    )
    approved_digest = models.CharField(
        max_length=64, blank=True, help_text="sha256 of the content as approved (shown_content)"
    )
    created_at = models.DateTimeField(db_default=Now())
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [("approve_proposal", "Can approve proposals")]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="proposal_agent_day_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(status="rejected"),
                name="proposal_rejected_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason=""),
                name="proposal_rejection_has_reason",
            ),
        ]

    def __str__(self):
        return f"P{self.id} {self.title}"

    @property
    def counts_toward_daily_limit(self) -> bool:
        at_the_door = self.rejection_code in REFUSED_AT_THE_DOOR and self.decided_by == THE_DOOR
        return not at_the_door

    @property
    def step_kinds(self) -> list[str]:
        return [spec["kind"] for spec in self.proposed_steps]

    def shown_content(self) -> dict:
        """Exactly what the approval card shows and what approving it will execute: whose
        work, the title, and every field of every step (kind, payload, agent, order, delay,
        priority, attempts), and the words already written by the existing steps they wait
        for, which a post_tweet without text would post; and a person's earlier refusal of any
        words it would post, so a card shown before that refusal is not this one."""
        shown = {"agent": self.agent_id, "title": self.title, "steps": self.proposed_steps}
        if previews := self.previews():
            shown["previews"] = previews
        waited = sorted({i for spec in self.proposed_steps for i in spec.get("after_steps", [])})
        if waited:
            shown["written"] = written_texts(waited)
        refused = refused_before(shown)
        return shown | {"refused_before": refused} if refused else shown

    def previews(self) -> dict[str, str]:
        """step index → what its kind shows beside its payload (a policy change's diff, a dev
        job's caps): read now, so an approval binds the one its card showed."""
        steps = enumerate(self.proposed_steps)
        shown = {str(i): preview(step["kind"], step.get("payload") or {}) for i, step in steps}
        return {index: text for index, text in shown.items() if text}

    def content_digest(self, content: dict | None = None) -> str:
        return content_digest(self.shown_content() if content is None else content)

    @property
    def author(self) -> str:
        """The human who proposed it ('' for an agent's proposal): they may not approve it."""
        return self.operator.get_username() if self.operator_id else ""

    def readable_steps(self, content: dict | None = None) -> list[dict]:
        """The steps it would run, as an approver reads them: every field, nothing cut, and
        the refusals of words they would post. `content`: the shown_content whose digest the
        card carries, so what a card shows and what its digest binds are one read."""
        content = self.shown_content() if content is None else content
        refused = content.get("refused_before", {})
        return [
            {
                "number": index + 1,
                "kind": spec["kind"],
                "agent": spec.get("agent") or self.agent_id,
                "inputs": [(k, shown(v)) for k, v in sorted((spec.get("payload") or {}).items())],
                "delay_minutes": round((spec.get("delay_seconds") or 0) / 60),
                "delay_seconds": spec.get("delay_seconds") or 0,
                "after": [n + 1 for n in spec.get("depends_on", [])],
                "after_steps": spec.get("after_steps", []),
                "written": written_by(spec.get("after_steps", []), refused),
                "refused_before": [
                    note
                    for text in own_words(spec["kind"], spec.get("payload") or {})
                    for note in refused.get(text_digest(text), [])
                ],
                "words_later": takes_words(spec["kind"], spec.get("payload") or {}),
                "priority": spec.get("priority"),
                "max_attempts": spec.get("max_attempts"),
                "preview": content.get("previews", {}).get(str(index), ""),
            }
            for index, spec in enumerate(self.proposed_steps)
        ]

    def as_json(self, steps=()) -> dict:
        """`steps`: the mission's steps, which the caller loads (see Step.objects.of_proposal)."""
        steps = list(steps)
        content = self.shown_content()
        return {
            "id": self.id,
            "agent": self.agent_id,
            "title": self.title,
            "source": self.source,
            "goal": self.goal_id,
            "status": self.status,
            "reason": self.reason,
            "rejection_code": self.rejection_code,
            # why it is never auto-approved, as the Stage's card says it: a crawled page, a
            # runtime's words ('' for Opscore's own)
            "untrusted_reason": self.untrusted_reason,
            "mission_id": steps[0].mission_id if steps else None,
            "step_ids": [step.id for step in steps],
            "created_at": self.created_at.isoformat(),
            # What approving runs, exactly, the words it would post, and their digest: a client
            # that shows these and sends the digest back approves that content and nothing else
            # (missions.decisions).
            "steps": self.proposed_steps,
            "written": content.get("written", {}),
            # digest → who refused those words before, when, on which step, why (words_card's)
            "refused_before": content.get("refused_before", {}),
            # step index → what its kind shows beside its payload (a dev job's caps)
            "previews": content.get("previews", {}),
            "digest": self.content_digest(content),
        }
