"""Human decisions on proposals: approve, reject, decide (from the admin, the Stage's inbox, the
CLI and the API). What the intake admits is in missions.actions; a person decides here, under
four-eyes, on exactly the content they were shown."""

from django.db import transaction

from missions.actions import (
    DecisionRefused,
    disabled_refusal,
    mark_accepted,
    record_refusal,
    start_mission,
)
from missions.gates import first_refusal, reserve_for_goals
from missions.models import Proposal, ProposalStatus, RejectionCode
from missions.words import approve_covered
from opscore import four_eyes
from opscore.actions import record_event
from opscore.four_eyes import deciding_user, why_not_approve_proposal, why_not_decide
from opscore.lanes import drop_refusal
from opscore.models import Agent, operator_actor
from opscore.text import ReasonRefused, checked_reason


def approve_proposal(
    proposal: Proposal, *, actor: str, user=None, shown_digest: str | None = None
) -> Proposal:
    """A human approves a pending proposal: exactly the content they were shown
    (`shown_digest`, when a card showed it), if they may (`user`, when a person signed in).
    The gates run again: the agent may have been switched off or the quota filled since it
    was submitted, in which case it is rejected with that reason instead."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=proposal.agent_id)
        proposal = _lock_pending(proposal)
        content = proposal.shown_content()  # read once: what is checked is what is approved
        _check_approver(proposal, user, shown_digest, content)
        refusal = _refusal_at_approval(proposal, agent)
        if refusal:
            return record_refusal(proposal, *refusal, actor=actor)
        return _accept(proposal, actor=actor, content=content, shown=shown_digest is not None)


def _refusal_at_approval(proposal: Proposal, agent: Agent) -> tuple[str, str] | None:
    """The intake's gates again, all but the daily limit (the proposal spent its day's
    allowance when it came in). What goal_preference weighed now is kept beside what it
    weighed at the intake (gate_decision's `at_approval`): the slots a refusal names are on
    the row, and the policy simulator judges the approval by them."""
    if disabled := disabled_refusal(agent, proposal):
        return disabled
    if dropped := drop_refusal(proposal.step_kinds):
        return RejectionCode.LANE_PAUSED, dropped
    reserved = reserve_for_goals(proposal, at_approval=True)
    refusal = first_refusal(proposal.step_kinds, reserved)
    return (RejectionCode.CAP_GATE, refusal) if refusal else None


def _check_approver(proposal: Proposal, user, shown_digest: str | None, content: dict) -> None:
    if user is not None:
        why = why_not_approve_proposal(user, proposal.step_kinds, author=proposal.author)
        if why:
            raise DecisionRefused(why, status=403)
    if shown_digest is None and content.get("refused_before"):
        raise DecisionRefused(
            f"P{proposal.id} would post words a person refused before: approve it with the "
            "digest of the card that shows that refusal (proposal list), after reading it"
        )
    if shown_digest is not None and shown_digest != proposal.content_digest(content):
        refused = (
            " (it now shows words a person refused before)" if content.get("refused_before") else ""
        )
        raise DecisionRefused(
            f"P{proposal.id} changed after it was shown to you{refused}; reload and review it again"
        )


def reject_proposal(proposal: Proposal, *, actor: str, reason: str, user=None) -> Proposal:
    """Rejecting needs the same permission as approving, but an author may withdraw their own.
    The reason is kept as opscore.text.checked_reason keeps every reason (hidden characters
    gone, at most MAX_REASON, refused rather than cut): every surface rejects through here."""
    try:
        reason = checked_reason(reason, needed_by="a rejection")
    except ReasonRefused as refused:
        raise DecisionRefused(str(refused), status=400) from None
    why = why_not_decide(user, four_eyes.PROPOSAL) if user is not None else ""
    if why:
        raise DecisionRefused(why, status=403)
    with transaction.atomic():
        proposal = _lock_pending(proposal)
        return record_refusal(proposal, RejectionCode.OPERATOR, reason, actor=actor)


def approves(decision: str | None) -> bool:
    """A decision card's button. Anything but approve or reject (missing, mistyped) is refused:
    read as "not approve" it would have rejected the proposal."""
    if decision not in ("approve", "reject"):
        raise DecisionRefused(f"the decision is approve or reject, not {decision!r}")
    return decision == "approve"


def decide_proposal(
    proposal: Proposal, *, approve: bool, user, reason: str = "", shown_digest=None
) -> Proposal:
    """One human decision, the same from the admin and the Stage's approvals inbox. A
    refused attempt (already decided, changed since shown, not permitted) is an event too."""
    actor = operator_actor(user)
    try:
        if approve:
            return approve_proposal(proposal, actor=actor, user=user, shown_digest=shown_digest)
        return reject_proposal(proposal, actor=actor, reason=reason, user=user)
    except DecisionRefused as refused:
        record_event(
            "proposal.decision_refused",
            f"P{proposal.id}: {'approval' if approve else 'rejection'} by {actor} refused",
            summary=str(refused),
            tags=["proposal", "decision", "refused"],
            payload={"approve": approve, "reason": str(refused), "shown_digest": shown_digest},
            agent_id=proposal.agent_id,
            proposal=proposal,
            actor=actor,
        )
        raise


def decide_proposal_as(
    proposal_id: int, username: str, *, approve: bool, reason: str = "", shown_digest=None
) -> Proposal:
    """The CLI and the API decide as a named person: four-eyes holds as on the Stage (that
    person's permissions, and never the author approving their own)."""
    user = deciding_user(username)
    if user is None:
        raise DecisionRefused(f"no active user {username!r}", status=403)
    proposal = Proposal.objects.filter(pk=proposal_id).first()
    if proposal is None:
        raise DecisionRefused(f"no proposal P{proposal_id}", status=404)
    return decide_proposal(
        proposal, approve=approve, user=user, reason=reason, shown_digest=shown_digest
    )


def _lock_pending(proposal: Proposal) -> Proposal:
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ProposalStatus.PENDING:
        raise DecisionRefused(f"P{locked.id} is {locked.status}, not pending")
    return locked


def _accept(proposal: Proposal, *, actor: str, content: dict, shown: bool) -> Proposal:
    """`shown`: the approval named the digest of a card that showed the words already written;
    only then are they approved with it (without one, nobody is known to have read them)."""
    mark_accepted(proposal, actor=actor)
    proposal.approved_digest = proposal.content_digest(content)
    weighed = ["gate_decision", "approved_digest"]
    proposal.save(update_fields=["status", "decided_by", "decided_at", *weighed])
    proposal.refresh_from_db(fields=["decided_at"])
    steps = start_mission(proposal, actor=actor)
    if shown:
        approve_covered(steps, content, actor=actor, proposal=proposal)
    return proposal
