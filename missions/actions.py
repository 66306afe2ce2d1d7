"""The company loop's workflows. `submit_proposal` is the single intake: every proposal from
every source (API, trigger, reaction, initiative, conversation, human) enters here."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from missions.gates import first_refusal
from missions.models import (
    STEP_TERMINAL,
    Artifact,
    Mission,
    MissionStatus,
    Proposal,
    ProposalStatus,
    Provenance,
    RejectionCode,
    Step,
    StepDependency,
    StepStatus,
    in_seconds,
)
from missions.schemas import ProposalDraft, ProposalInvalid
from opscore.actions import record_event
from opscore.models import Agent, Policy
from opscore.policies import SCHEMAS
from opscore.registry import STEP_KINDS


@dataclass(frozen=True)
class IntakeResult:
    proposal: Proposal
    created: bool  # False when the dedupe key named a proposal already on file
    body: dict  # the answer, read inside the intake's transaction

    @classmethod
    def of(cls, proposal: Proposal, *, created: bool) -> "IntakeResult":
        """Build the answer before the commit: a read after it could fail (the database gone
        away) and turn a proposal that was saved into an error, which a client would retry."""
        steps = Step.objects.of_proposal(proposal).only("id", "mission_id")
        return cls(proposal, created, proposal.as_json(steps) | {"duplicate": not created})

    def as_json(self) -> dict:
        return dict(self.body)


def submit_proposal(data, *, source, untrusted=False, **about) -> IntakeResult:
    """Validate → agent enabled and under its daily limit → cap gates → insert → auto-approve.

    Bad input raises ProposalInvalid and writes nothing. A refusal is stored as a rejected
    proposal with its reason and an event; no step is ever queued for it. `about` says where
    it came from and why: cause_event, operator, cause_ref, context (e.g. which memories
    steered it, kept on the proposal and its event) and needs_human (never auto-approved).
    """
    draft = ProposalDraft.parse(data)
    _check_after_steps(draft)
    existing = _find_duplicate(draft)
    if existing:
        return IntakeResult.of(existing, created=False)
    try:
        with transaction.atomic():
            agent = _lock_agent(draft)
            proposal = _new_proposal(draft, agent, source, untrusted, **about)
            return IntakeResult.of(_admit(proposal, agent), created=True)
    except IntegrityError:
        existing = _find_duplicate(draft)
        if existing is None:
            raise
        return IntakeResult.of(existing, created=False)


def _new_proposal(
    draft,
    agent,
    source,
    untrusted,
    *,
    cause_event=None,
    operator=None,
    cause_ref="",
    context=None,
    needs_human=False,
) -> Proposal:
    return Proposal(
        agent=agent,
        title=draft.title,
        description=draft.description,
        source=source,
        cause_event=cause_event,
        operator=operator,
        cause_ref=cause_ref,
        context=context or {},
        needs_human=needs_human,
        proposed_steps=[step.model_dump() for step in draft.steps],
        dedupe_key=draft.dedupe_key,
        untrusted=untrusted or _cites_untrusted_content(draft, cause_event),
    )


def _check_after_steps(draft: ProposalDraft) -> None:
    """Bad input, not a refusal: a dependency on a step that does not exist writes nothing."""
    wanted = {i for spec in draft.steps for i in spec.after_steps}
    found = set(Step.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    errors = {
        f"steps.{index}.after_steps": [f"no step {i}" for i in spec.after_steps if i not in found]
        for index, spec in enumerate(draft.steps)
        if set(spec.after_steps) - found
    }
    if errors:
        raise ProposalInvalid(errors)


def _cites_untrusted_content(draft: ProposalDraft, cause_event) -> bool:
    """A proposal built from crawled (untrusted) content must not run without a human: an
    injected page cannot make an agent deploy or post."""
    if cause_event is not None and cause_event.payload.get("untrusted"):
        return True
    cited = [s.payload.get("artifact_id") for s in draft.steps]
    cited = [a for a in cited if isinstance(a, int)]
    return Artifact.objects.filter(id__in=cited, provenance=Provenance.UNTRUSTED).exists()


def _find_duplicate(draft: ProposalDraft) -> Proposal | None:
    if not draft.dedupe_key:
        return None
    return Proposal.objects.filter(dedupe_key=draft.dedupe_key).first()


def _lock_agent(draft: ProposalDraft) -> Agent:
    """Lock the proposing agent's row: its daily limit is counted under this lock."""
    agent = Agent.objects.select_for_update().filter(slug=draft.agent).first()
    if agent is None:
        raise ProposalInvalid({"agent": [f"unknown agent {draft.agent!r}"]})
    named = {step.agent for step in draft.steps if step.agent}
    known = set(Agent.objects.filter(slug__in=named).values_list("slug", flat=True))
    for index, step in enumerate(draft.steps):
        if step.agent and step.agent not in known:
            raise ProposalInvalid({f"steps.{index}.agent": [f"unknown agent {step.agent!r}"]})
    return agent


def _admit(proposal: Proposal, agent: Agent) -> Proposal:
    if not agent.enabled:
        return _refuse(proposal, RejectionCode.AGENT_DISABLED, f"Agent {agent.slug} is disabled")
    used = Proposal.objects.filter(agent=agent).created_today().counting_toward_daily_limit()
    used_count = used.count()
    if used_count >= agent.daily_proposal_limit:
        reason = f"Daily proposal limit reached ({used_count}/{agent.daily_proposal_limit})"
        return _refuse(proposal, RejectionCode.DAILY_LIMIT, reason)
    refusal = first_refusal(proposal.step_kinds)
    if refusal:
        return _refuse(proposal, RejectionCode.CAP_GATE, refusal)
    proposal.save()
    if _auto_approvable(proposal):
        return _accept(proposal, actor="system:auto_approve")
    record_event(
        "proposal.pending",
        f"Proposal awaits a human: {proposal.title}",
        tags=["proposal", "pending"],
        payload={"step_kinds": proposal.step_kinds, "source": proposal.source} | proposal.context,
        agent=agent,
        proposal=proposal,
        actor=agent.actor,
    )
    return proposal


def _auto_approvable(proposal: Proposal) -> bool:
    policy = Policy.objects.value("auto_approve")
    kinds = set(proposal.step_kinds)
    return (
        not proposal.untrusted
        and not proposal.needs_human
        and policy.enabled
        and kinds <= set(policy.allowed_step_kinds)
        and all(STEP_KINDS[kind].auto_approvable for kind in kinds)
    )


def _refuse(proposal: Proposal, code: str, reason: str, *, actor: str = "system:intake"):
    proposal.status = ProposalStatus.REJECTED
    proposal.rejection_code = code
    proposal.reason = reason
    proposal.decided_by = actor
    proposal.decided_at = Now()
    proposal.save()
    proposal.refresh_from_db(fields=["decided_at", "created_at"])
    record_event(
        "proposal.rejected",
        f"Proposal rejected: {proposal.title}",
        summary=reason,
        tags=["proposal", "rejected", code],
        payload={"reason": reason, "code": code, "source": proposal.source} | proposal.context,
        agent=proposal.agent,
        proposal=proposal,
        actor=actor,
    )
    return proposal


def _accept(proposal: Proposal, *, actor: str) -> Proposal:
    proposal.status = ProposalStatus.ACCEPTED
    proposal.decided_by = actor
    proposal.decided_at = Now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
    proposal.refresh_from_db(fields=["decided_at"])
    mission = Mission.objects.create(
        title=proposal.title,
        agent=proposal.agent,
        created_by=actor,
        proposal=proposal,
        policy_versions=Policy.objects.versions_in_force(SCHEMAS),
    )
    steps = _create_steps(mission, proposal)
    record_event(
        "proposal.accepted",
        f"Mission M{mission.id} approved: {proposal.title}",
        tags=["proposal", "accepted", "mission"],
        payload={"step_ids": [s.id for s in steps], "approved_by": actor} | proposal.context,
        agent=proposal.agent,
        proposal=proposal,
        mission=mission,
        actor=actor,
    )
    return proposal


def _create_steps(mission: Mission, proposal: Proposal) -> list[Step]:
    steps = Step.objects.bulk_create(
        Step(
            mission=mission,
            position=index,
            kind=spec["kind"],
            payload=spec["payload"],
            agent_id=spec["agent"] or proposal.agent_id,
            priority=spec["priority"],
            max_attempts=spec["max_attempts"],
            run_after=in_seconds(spec.get("delay_seconds", 0)),
        )
        for index, spec in enumerate(proposal.proposed_steps)
    )
    StepDependency.objects.bulk_create(
        StepDependency(step=steps[index], depends_on=steps[target])
        for index, spec in enumerate(proposal.proposed_steps)
        for target in spec["depends_on"]
    )
    StepDependency.objects.bulk_create(
        StepDependency(step=steps[index], depends_on_id=earlier)
        for index, spec in enumerate(proposal.proposed_steps)
        for earlier in spec.get("after_steps", [])
    )
    return steps


class DecisionRefused(Exception):
    """A human decision that does not apply to the row's current state."""


def approve_proposal(proposal: Proposal, *, actor: str) -> Proposal:
    """A human approves a pending proposal. The gates run again: the quota may have filled
    since it was submitted, in which case it is rejected with that reason instead."""
    with transaction.atomic():
        Agent.objects.select_for_update().get(pk=proposal.agent_id)
        refusal = first_refusal(proposal.step_kinds)
        proposal = _lock_pending(proposal)
        if refusal:
            return _refuse(proposal, RejectionCode.CAP_GATE, refusal, actor=actor)
        return _accept(proposal, actor=actor)


def reject_proposal(proposal: Proposal, *, actor: str, reason: str) -> Proposal:
    if not reason.strip():
        raise DecisionRefused("a rejection needs a reason")
    with transaction.atomic():
        proposal = _lock_pending(proposal)
        return _refuse(proposal, RejectionCode.OPERATOR, reason.strip(), actor=actor)


def decide_proposal(proposal: Proposal, *, approve: bool, actor: str, reason: str = "") -> Proposal:
    """One human decision, the same from the admin and the Stage's approvals inbox."""
    if approve:
        return approve_proposal(proposal, actor=actor)
    return reject_proposal(proposal, actor=actor, reason=reason)


def _lock_pending(proposal: Proposal) -> Proposal:
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ProposalStatus.PENDING:
        raise DecisionRefused(f"P{locked.id} is {locked.status}, not pending")
    return locked


@transaction.atomic
def cancel_mission(mission: Mission, *, actor: str) -> int:
    """Cancel a mission and every step not yet finished. Returns the number of steps cancelled.

    A running step loses its lease here; its worker's late completion is refused by the token.
    """
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    if mission.is_terminal:
        raise DecisionRefused(f"M{mission.id} is already {mission.status}")
    cancelled = mission.steps.exclude(status__in=STEP_TERMINAL).select_for_update().cancel()
    mission.cancel()
    record_event(
        "mission.cancelled",
        f"Mission M{mission.id} cancelled",
        tags=["mission", "cancelled"],
        payload={"steps_cancelled": cancelled},
        agent=mission.agent,
        mission=mission,
        actor=actor,
    )
    return cancelled


RETRYABLE = [StepStatus.FAILED, StepStatus.DEAD, StepStatus.BLOCKED]


@transaction.atomic
def retry_step(step: Step, *, actor: str) -> Step:
    """Put a failed, dead or blocked step back in the queue with one more attempt allowed."""
    step = Step.objects.select_for_update().get(pk=step.pk)
    if step.status not in RETRYABLE:
        raise DecisionRefused(f"S{step.id} is {step.status}; only {RETRYABLE} can be retried")
    if Mission.objects.filter(pk=step.mission_id, status=MissionStatus.CANCELLED).exists():
        raise DecisionRefused(f"S{step.id} belongs to a cancelled mission")
    previous = step.status
    step.retry()
    step.refresh_from_db()
    step.mission.reopen_if_failed()
    record_event(
        "step.retried",
        f"Step S{step.id} ({step.kind}) requeued by {actor}",
        tags=["step", "retried"],
        payload={"from_status": previous},
        agent=step.agent,
        mission_id=step.mission_id,
        step=step,
        actor=actor,
    )
    return step


@transaction.atomic
def dead_letter_step(step: Step, *, actor: str, reason: str) -> Step:
    step = Step.objects.select_for_update().get(pk=step.pk)
    if step.is_terminal:
        raise DecisionRefused(f"S{step.id} is already {step.status}")
    step.dead_letter(reason or f"dead-lettered by {actor}")
    step.refresh_from_db()
    record_event(
        "step.dead_lettered",
        f"Step S{step.id} ({step.kind}) dead-lettered",
        summary=step.last_error,
        tags=["step", "dead"],
        agent=step.agent,
        mission_id=step.mission_id,
        step=step,
        actor=actor,
    )
    step.mission.finalize()
    return step
