"""Approving the words a step posts when no approval showed them: a post_tweet without text
posts the newest draft of a step it waits for, words a model wrote after (or while) a person
approved the proposal. The step is held (blocked, `words_approval`) until someone with *can
approve proposals* — not the proposal's author — approves those exact words, bound by their
sha256; a newer draft is other words and holds it again. A refusal fails the step."""

from django.db import transaction

from missions.actions import DecisionRefused
from missions.dependents import cancel_dependents
from missions.models import (
    Artifact,
    Step,
    StepStatus,
    WordsApproval,
    WordsDecision,
    refusal_line,
    text_digest,
)
from missions.models.proposals import own_words
from missions.recovery import unblock
from missions.text import reveal_invisible
from opscore.actions import record_event
from opscore.digests import content_digest
from opscore.four_eyes import deciding_user, why_not_approve_proposal
from opscore.models import operator_actor
from opscore.redaction import redact_text
from opscore.registry import STEP_KINDS
from opscore.text import ReasonRefused, checked_reason

WAITING = "words_approval"
WITHHELD = "[withheld: it looks like a secret; words nobody may read can only be refused]"


class WordsRefused(DecisionRefused):
    """A words decision that cannot be taken; `status` as the API answers it (DecisionRefused's)."""


def words_to_approve(step) -> str | None:
    """The words a step takes from a step it waits for (the newest artifact of the kind its
    field names in `or_from`), or None when it carries its own, approved with its proposal."""
    kind = STEP_KINDS.get(step.kind)
    for field in kind.fields if kind else ():
        if field.or_from and not step.payload.get(field.name):
            newest = Artifact.objects.filter(
                step__in=step.depends_on.all(), kind=field.or_from
            ).order_by("-id")
            found = newest.values_list("body", flat=True).first()
            return found
    return None


def card_digest(text: str, refusals: list[dict]) -> str:
    """What an approval of `text` sends back: the words' sha256 — or, where people refused the
    same words before, the digest of the words and of those refusals, as the card shows them.
    An approval then binds the refusals it was shown too: one that lands after the card was
    shown changes the digest, and the approval is refused rather than recorded as given
    "despite" a refusal its giver never read."""
    if not refusals:
        return text_digest(text)
    return content_digest({"words": text_digest(text), "refused_before": refusals})


def refusals_of_words(text: str) -> list[dict]:
    return WordsApproval.objects.refusals_of([text]).get(text_digest(text), [])


def approve_command(step_id: int, digest: str) -> str:
    return f".venv/bin/opscore words approve {step_id} --digest {digest} --as USER"


def words_hold(step, text: str) -> str | None:
    """Why `text` may not be posted yet (one line naming how a person approves it), or None
    when a person approved exactly these words for this step."""
    if WordsApproval.objects.approving(step, text).exists():
        return None
    digest = card_digest(text, refusals_of_words(text))
    return (
        f"S{step.id} {step.kind} waits for a person to approve its words "
        f"(digest {digest[:12]}; nobody approved them): {approve_command(step.id, digest)}"
    )


def words_refused(step, text: str) -> str | None:
    """Why a step may never post these exact words (a person refused them), or None: a retry
    of the step fails on them again rather than asking the next person as if nobody had."""
    refused = step.words_decisions.filter(decision=WordsDecision.REFUSED)
    refusal = refused.filter(digest=text_digest(text)).first()
    return f"words refused by {refusal.decided_by}: {refusal.reason}" if refusal else None


def words_cleared(step) -> bool:
    """The blocker check: the words it would post now are approved (or it has none to ask)."""
    text = words_to_approve(step)
    return text is None or words_hold(step, text) is None


def held_for_words():
    return Step.objects.filter(status=StepStatus.BLOCKED, blocked_code=WAITING)


def words_and_source(step) -> tuple[str | None, str]:
    """What the step would post, and whence: 'draft' (a step it waits for wrote them: a person
    approves them), 'own' (its payload's, approved with its proposal), or 'none' (no draft
    written yet, or a kind that posts no words)."""
    own = own_words(step.kind, step.payload)
    if own:
        return own[0], "own"
    text = words_to_approve(step)
    return (None, "none") if text is None else (text, "draft")


def words_card(step) -> dict:
    """A step's words as a person decides on them: exactly (`words`), with every character
    that hides or reorders text named (`shown`), where they come from (`source`), the digest
    an approval sends back, and every refusal of the same words by a person before
    (`refused_before`, on any step). No words, no digest: a post carrying its own text showed
    "" and the digest of nothing, as if that were what it would post."""
    text, source = words_and_source(step)
    readable = WITHHELD if text and withheld(text) else text or ""
    refusals = refusals_of_words(text) if text else []
    return {
        "step": step.id,
        "kind": step.kind,
        "agent": step.agent_id,
        "mission": step.mission_id,
        "status": step.status,
        "held": step.status == StepStatus.BLOCKED and step.blocked_code == WAITING,
        "words": readable,
        "shown": reveal_invisible(readable),
        "source": source,
        "digest": "" if text is None else card_digest(text, refusals),
        "proposed_by": step.mission.proposal.author,
        "refused_before": refusals,
    }


def despite(notes: list[dict]) -> str:
    """What an approval of words refused before records: it was given knowing which refusal."""
    if not notes:
        return ""
    refusals = "refusal" if len(notes) == 1 else "refusals"
    return f"approved despite the earlier {refusals}: " + "; ".join(map(refusal_line, notes))


def withheld(text: str) -> bool:
    """Words every surface hides from the person deciding (they look like a secret). The
    executor refuses only some of what is hidden (`Thebearer abcdefgh`, a short bearer value
    read as a secret here, is not a secret to it), so hidden words are never approved."""
    return redact_text(text) != text


def held_words(limit: int = 25) -> list[dict]:
    """The steps held for their words, oldest first, as cards."""
    held = held_for_words().select_related("mission__proposal__operator").order_by("id")
    return [words_card(step) for step in held[:limit]]


def approve_covered(steps, content: dict, *, actor: str, proposal) -> None:
    """At a person's approval of a proposal, the draft words its card showed (`content`, which
    its digest covered) are approved for the steps that would post them; with the refusals
    of those words it showed, named."""
    covered = {text for texts in content.get("written", {}).values() for text in texts}
    refused = content.get("refused_before", {})
    for step in steps:
        text = words_to_approve(step)
        if text is not None and text in covered:
            why = f"shown on P{proposal.id}'s card when {actor} approved it"
            earlier = despite(refused.get(text_digest(text), []))
            why = f"{why}; {earlier}" if earlier else why
            _record(step, text, WordsDecision.APPROVED, actor=actor, reason=why)


def _record(step, text: str, decision: str, *, actor: str, reason: str = "") -> WordsApproval:
    row = WordsApproval.objects.create(
        step=step,
        digest=text_digest(text),
        words=redact_text(text),
        decision=decision,
        decided_by=actor,
        reason=reason,
    )
    record_event(
        f"step.words_{decision}",
        f"S{step.id} {step.kind}: words {decision} by {actor}",
        summary=reason or f"sha256 {row.digest}",
        tags=["step", "words", decision],
        payload={"digest": row.digest, "words_approval_id": row.id},
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=actor,
    )
    return row


def _held(step_id: int, user) -> tuple[Step, str]:
    """The step, locked, still held for its words; and the words it would post now."""
    step = Step.objects.select_for_update().filter(pk=step_id).first()
    if step is None:
        raise WordsRefused(f"no step S{step_id}", status=404)
    author = step.mission.proposal.author
    why = why_not_approve_proposal(user, [step.kind], author=author)
    if why:
        raise WordsRefused(why, status=403)
    text = words_to_approve(step)
    if step.status != StepStatus.BLOCKED or step.blocked_code != WAITING or text is None:
        raise WordsRefused(f"S{step.id} is {step.status}, not waiting for its words to be approved")
    return step, text


@transaction.atomic
def approve_words(step_id: int, *, user, digest: str) -> WordsApproval:
    """A person approves exactly the words they were shown (`digest`); the step goes back in
    the queue and posts them, and only them."""
    step, text = _held(step_id, user)
    refusals = refusals_of_words(text)
    if digest != card_digest(text, refusals):
        raise WordsRefused(_not_as_shown(step, text, refusals, digest))
    if withheld(text):
        raise WordsRefused(
            f"the words of S{step.id} are withheld from you (they look like a secret): "
            "they cannot be approved unread; refuse them"
        )
    actor = operator_actor(user)
    row = _record(step, text, WordsDecision.APPROVED, actor=actor, reason=despite(refusals))
    unblock(step, f"words approved by {actor}", actor=actor, tags=["words"])
    return row


def _not_as_shown(step, text: str, refusals: list[dict], digest: str) -> str:
    if refusals and digest == text_digest(text):
        return (
            f"the words of S{step.id} were refused by a person since they were shown to you "
            "(or the card you read did not show that refusal); reload and read it"
        )
    return (
        f"the words of S{step.id} are not the ones shown to you (digest "
        f"{card_digest(text, refusals)[:12]} now, {digest[:12] or 'none'} shown); reload and "
        "read them"
    )


@transaction.atomic
def refuse_words(step_id: int, *, user, reason: str) -> WordsApproval:
    """A person refuses the words: the step fails, not to be retried, with the reason (kept as
    opscore.text.checked_reason keeps every reason: every surface refuses through here)."""
    try:
        reason = checked_reason(reason, needed_by="a refusal")
    except ReasonRefused as refused:
        raise WordsRefused(str(refused), status=400) from None
    step, text = _held(step_id, user)
    actor = operator_actor(user)
    row = _record(step, text, WordsDecision.REFUSED, actor=actor, reason=reason)
    step.finish(StepStatus.FAILED, f"words refused by {actor}: {reason}")
    cancel_dependents(step)  # they can never run: left queued, the mission never ended
    step.mission.finalize()
    return row


def decide_words(step_id: int, *, user, approve: bool, digest: str = "", reason: str = ""):
    """One decision, the same from the admin, the Stage, the CLI and the API; a refused
    attempt is an event too."""
    try:
        if approve:
            return approve_words(step_id, user=user, digest=digest)
        return refuse_words(step_id, user=user, reason=reason)
    except WordsRefused as refused:
        record_event(
            "step.words_decision_refused",
            f"S{step_id}: words {'approval' if approve else 'refusal'} refused",
            summary=str(refused),
            tags=["step", "words", "refused"],
            payload={"approve": approve, "reason": str(refused), "shown_digest": digest},
            step_id=step_id if Step.objects.filter(pk=step_id).exists() else None,
            actor=operator_actor(user),
        )
        raise


def decide_words_as(step_id: int, username: str, **decision):
    """The CLI and the API decide as a named person: four-eyes holds for that person."""
    user = deciding_user(username)
    if user is None:
        raise WordsRefused(f"no active user {username!r}", status=403)
    return decide_words(step_id, user=user, **decision)
