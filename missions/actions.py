"""The company loop's workflows. `submit_proposal` is the single intake: every proposal from
every source (API, trigger, reaction, initiative, conversation, human) enters here."""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from missions.dependents import cancel_behind_ended
from missions.draft_checks import (
    check_after_steps,
    check_goal,
    cites_untrusted_content,
    find_duplicate,
)
from missions.gates import RESERVED_FOR_GOALS, auto_approvable, first_refusal, reserve_for_goals
from missions.models import (
    THE_DOOR,
    Mission,
    Proposal,
    ProposalStatus,
    RejectionCode,
    Step,
    StepDependency,
    in_seconds,
)
from missions.schemas import ProposalDraft, ProposalInvalid
from opscore.actions import record_event, unsaved_event
from opscore.lanes import drop_refusal
from opscore.models import Agent, Event, Policy, operator_actor
from opscore.policies import SCHEMAS


@dataclass(frozen=True)
class IntakeResult:
    proposal: Proposal
    created: bool  # False when the dedupe key named a proposal already on file
    body: dict  # the answer, read inside the intake's transaction

    @classmethod
    def of(cls, proposal: Proposal, *, created: bool, steps=None) -> "IntakeResult":
        """Build the answer before the commit: a read after it could fail (the database gone
        away) and turn a proposal that was saved into an error, which a client would retry.
        `steps`: the ones the intake just created (none when it refused or left it pending),
        read back otherwise."""
        if steps is None:
            steps = Step.objects.of_proposal(proposal).only("id", "mission_id")
        return cls(proposal, created, proposal.as_json(steps) | {"duplicate": not created})

    def as_json(self) -> dict:
        return dict(self.body)


@dataclass
class IntakePass:
    """What the intake learns within one transaction and may reuse in it (the trigger pass
    keeps one on its Beat): the agents whose rows it has locked (a row lock holds until the
    transaction ends) and each one's proposals counted today, counted once under that lock
    and then kept up to date by the intake itself (no other intake can add one meanwhile: it
    would wait on the lock). Never share one across transactions.

    `events`: a list to hold the intake's events until `store_events` writes them in one
    INSERT, before the caller's transaction commits (None: each is written at once)."""

    agents: dict[str, Agent] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    events: list[Event] | None = None

    def record(self, kind: str, title: str, **fields) -> None:
        if self.events is None:
            record_event(kind, title, **fields)
        else:
            self.events.append(unsaved_event(kind, title, **fields))

    def store_events(self) -> None:
        if self.events:
            Event.objects.bulk_create(self.events)
            self.events.clear()

    def used_today(self, agent: Agent) -> int:
        if agent.slug not in self.used:
            counting = Proposal.objects.charged_to(agent).counting_toward_daily_limit()
            self.used[agent.slug] = counting.created_today().count()
        return self.used[agent.slug]

    def admitted(self, agent: Agent, proposal: Proposal) -> None:
        self.agents[agent.slug] = agent
        payer = proposal.handed_by.slug if proposal.handed_by else agent.slug
        if payer in self.used and proposal.counts_toward_daily_limit:
            self.used[payer] += 1

    def forget(self, slug: str, events_before: int) -> None:
        """A savepoint rolled back released what it locked and undid what it inserted."""
        self.agents.pop(slug, None)
        self.used.pop(slug, None)
        del (self.events or [])[events_before:]


def submit_proposal(
    data, *, source, untrusted=False, savepoint=True, within: IntakePass | None = None, **about
) -> IntakeResult:
    """Validate → agent enabled and under its daily limit → cap gates → insert → auto-approve.

    Bad input raises ProposalInvalid and writes nothing. A refusal is stored as a rejected
    proposal with its reason and an event; no step is ever queued for it. `about` says where
    it came from and why: cause_event, operator, cause_ref, proposed_by (who put it in, as
    they authenticated; the operator's name by default), context (e.g. which memories
    steered it, kept on the proposal and its event) and needs_human (never auto-approved).
    `savepoint=False` is for a caller whose transaction fails as a whole on any error (the
    trigger pass inside its heartbeat duty): it saves the two round trips of a savepoint per
    proposal. A dedupe key keeps its savepoint: a lost race on the key is recovered here.
    `within`: the caller's IntakePass, when it submits many proposals in one transaction.
    """
    draft = ProposalDraft.parse(data)
    check_after_steps(draft)
    check_goal(draft)
    existing = find_duplicate(draft)
    if existing:
        return IntakeResult.of(existing, created=False)
    within = within or IntakePass()
    events_before = len(within.events or [])
    try:
        with transaction.atomic(savepoint=savepoint or bool(draft.dedupe_key)):
            agent = _lock_agent(draft, within, about.get("handed_by"))
            proposal = _new_proposal(draft, agent, source, untrusted, **about)
            proposal, steps = _admit(proposal, agent, within)
            within.admitted(agent, proposal)
            return IntakeResult.of(proposal, created=True, steps=steps)
    except Exception as error:
        within.forget(draft.agent, events_before)
        existing = find_duplicate(draft) if isinstance(error, IntegrityError) else None
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
    untrusted_reason="",
    handed_by=None,
    proposed_by="",
) -> Proposal:
    why = untrusted_reason or cites_untrusted_content(draft, cause_event)
    if untrusted and not why:
        why = f"from {source} input marked untrusted"
    return Proposal(
        agent=agent,
        title=draft.title,
        description=draft.description,
        source=source,
        cause_event=cause_event,
        operator=operator,
        cause_ref=cause_ref,
        proposed_by=proposed_by or (operator_actor(operator) if operator else ""),
        handed_by=handed_by,
        context=context or {},
        needs_human=needs_human,
        proposed_steps=[step.model_dump() for step in draft.steps],
        goal_id=draft.goal,
        dedupe_key=draft.dedupe_key,
        untrusted=bool(why),
        untrusted_reason=why[:300],
    )


def _lock_agent(draft: ProposalDraft, within: IntakePass, handed_by=None) -> Agent:
    """Lock the proposing agent's row (once a transaction): its daily limit is counted under
    this lock. Work one agent handed to another locks the payer's too, both by slug: two
    runtimes handing work to each other at once would otherwise lock them in opposite orders
    and wait on each other until Postgres killed one."""
    slugs = sorted({draft.agent, handed_by.slug} if handed_by is not None else {draft.agent})
    agent = {slug: locked(slug, within) for slug in slugs}[draft.agent]
    if agent is None:
        raise ProposalInvalid({"agent": [f"unknown agent {draft.agent!r}"]})
    named = {step.agent for step in draft.steps if step.agent}
    if not named:
        return agent
    known = set(Agent.objects.filter(slug__in=named).values_list("slug", flat=True))
    for index, step in enumerate(draft.steps):
        if step.agent and step.agent not in known:
            raise ProposalInvalid({f"steps.{index}.agent": [f"unknown agent {step.agent!r}"]})
    return agent


def _admit(proposal: Proposal, agent: Agent, within: IntakePass) -> tuple[Proposal, list[Step]]:
    """The proposal as stored (refused, pending or accepted) and the steps it started."""
    refusal = _refusal(proposal, agent, within)
    if refusal:
        return record_refusal(proposal, *refusal, within=within), []
    if _auto_approvable(proposal):
        # Admitted and accepted in one INSERT: decided in the statement that created it.
        mark_accepted(proposal, actor="system:auto_approve")
        proposal.save()
        proposal.decided_at = proposal.created_at
        return proposal, start_mission(proposal, actor="system:auto_approve", within=within)
    proposal.save()
    within.record(
        "proposal.pending",
        f"Proposal awaits a human: {proposal.title}",
        tags=["proposal", "pending"],
        payload={"step_kinds": proposal.step_kinds, "source": proposal.source}
        | proposal.context
        | _weighed(proposal),
        agent=agent,
        proposal=proposal,
        actor=agent.actor,
    )
    return proposal, []


def lock_agents(slugs, within: IntakePass | None = None) -> IntakePass:
    """For a caller submitting many proposals in one transaction (the trigger pass, a
    distillation's action items): all their agents locked first, in one statement ordered by
    slug, as every intake locks its agents before its gates. Locked as each proposal went in,
    the caller held one's gate while it waited on the next one's agent, which an intake beside
    it held while it waited on that gate, until Postgres killed one of them."""
    within = within or IntakePass()
    for agent in Agent.objects.select_for_update().filter(slug__in=set(slugs)).order_by("slug"):
        within.agents[agent.slug] = agent
    return within


def locked(slug: str, within: IntakePass) -> Agent | None:
    """An agent's row, locked once a transaction: its daily limit is counted under the lock."""
    agent = within.agents.get(slug)
    if agent is None:
        agent = Agent.objects.select_for_update().filter(slug=slug).first()
    return agent


def _refusal(proposal: Proposal, agent: Agent, within: IntakePass) -> tuple[str, str] | None:
    """The first gate that refuses (its code and reason), or None to admit. Work one agent's
    runtime handed to another is paid for by the one who handed it."""
    if disabled := disabled_refusal(agent, proposal):
        return disabled
    payer = locked(proposal.handed_by.slug, within) if proposal.handed_by else agent
    whose = f" of {payer.slug}, who handed it over," if payer != agent else ""
    used_count, reserved = within.used_today(payer), reserve_for_goals(proposal)
    if used_count >= payer.daily_proposal_limit:
        reason = f"Daily proposal limit{whose} reached ({used_count}/{payer.daily_proposal_limit})"
        return RejectionCode.DAILY_LIMIT, reason
    if used_count + reserved >= payer.daily_proposal_limit:
        return RejectionCode.DAILY_LIMIT, (
            f"Daily proposal limit{whose}: {RESERVED_FOR_GOALS.format(n=reserved)}"
        )
    dropped = drop_refusal(proposal.step_kinds)
    if dropped:
        return RejectionCode.LANE_PAUSED, dropped
    refusal = first_refusal(proposal.step_kinds, reserved)
    return (RejectionCode.CAP_GATE, refusal) if refusal else None


def disabled_refusal(agent: Agent, proposal: Proposal) -> tuple[str, str] | None:
    """The door's first gate, asked again at a person's approval: work of an agent switched
    off since it was proposed would otherwise be a mission that waits, unclaimed, and runs
    whenever the agent is switched back on, long after whoever approved it looked. The
    same for each agent a step names as its own (work handed to another agent)."""
    if not agent.enabled:
        return RejectionCode.AGENT_DISABLED, f"Agent {agent.slug} is disabled"
    named = {spec.get("agent") for spec in proposal.proposed_steps} - {None, "", agent.slug}
    off = set(Agent.objects.filter(slug__in=named, enabled=False).values_list("slug", flat=True))
    for number, spec in enumerate(proposal.proposed_steps, start=1):
        if spec.get("agent") in off:
            reason = f"Agent {spec['agent']} is disabled (step {number} is for it)"
            return RejectionCode.AGENT_DISABLED, reason
    return None


def _auto_approvable(proposal: Proposal) -> bool:
    """Words a person refused before are never posted without a person seeing that refusal."""
    refused = bool(proposal.shown_content().get("refused_before"))
    return auto_approvable(
        Policy.objects.value("auto_approve"),
        proposal.step_kinds,
        untrusted=proposal.untrusted,
        needs_human=proposal.needs_human or refused,
    )


def _weighed(proposal: Proposal) -> dict:
    """What the event adds about who put it in, the gates' weighing and the goal served, when
    there is any."""
    extra = {"proposed_by": proposal.proposed_by} if proposal.proposed_by else {}
    extra |= {"goal_id": proposal.goal_id} if proposal.goal_id else {}
    return extra | ({"gate_decision": proposal.gate_decision} if proposal.gate_decision else {})


def record_refusal(
    proposal: Proposal, code: str, reason: str, *, actor=THE_DOOR, within=None
) -> Proposal:
    proposal.status = ProposalStatus.REJECTED
    proposal.rejection_code = code
    proposal.reason = reason
    proposal.decided_by = actor
    proposal.decided_at = Now()
    proposal.save()
    proposal.refresh_from_db(fields=["decided_at", "created_at"])
    (within or IntakePass()).record(
        "proposal.rejected",
        f"Proposal rejected: {proposal.title}",
        summary=reason,
        tags=["proposal", "rejected", code],
        payload={"reason": reason, "code": code, "source": proposal.source}
        | proposal.context
        | _weighed(proposal),
        agent=proposal.agent,
        proposal=proposal,
        actor=actor,
    )
    return proposal


def mark_accepted(proposal: Proposal, *, actor: str) -> None:
    """The approval is bound to the content accepted: its digest is kept on the proposal and
    on each step, and the worker refuses a step whose row no longer matches."""
    proposal.status = ProposalStatus.ACCEPTED
    proposal.decided_by = actor
    proposal.decided_at = Now()
    proposal.approved_digest = proposal.content_digest()


def start_mission(proposal: Proposal, *, actor: str, within=None) -> list[Step]:
    mission = Mission.objects.create(
        title=proposal.title,
        agent=proposal.agent,
        created_by=actor,
        proposal=proposal,
        policy_versions=Policy.objects.versions_in_force(SCHEMAS),
    )
    steps = _create_steps(mission, proposal)
    cancel_behind_ended(mission, proposal)
    (within or IntakePass()).record(
        "proposal.accepted",
        f"Mission M{mission.id} approved: {proposal.title}",
        tags=["proposal", "accepted", "mission"],
        payload={"step_ids": [s.id for s in steps], "approved_by": actor}
        | {"digest": proposal.approved_digest}
        | proposal.context
        | _weighed(proposal),
        agent=proposal.agent,
        proposal=proposal,
        mission=mission,
        actor=actor,
    )
    return steps


def _create_steps(mission: Mission, proposal: Proposal) -> list[Step]:
    steps = [
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
    ]
    for step in steps:
        step.bind_approval()
    steps = Step.objects.bulk_create(steps)
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
    """A human decision that does not apply to the row's current state (`status` 409, as the
    API answers it: it was decided already, or changed since it was shown), or that this
    person may not take (403)."""

    def __init__(self, message: str, *, status: int = 409):
        super().__init__(message)
        self.status = status
