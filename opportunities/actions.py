"""The proactive lane's workflows, one place for every source (orders, agentbus, admin):
propose an opportunity (answers checked, budgets enforced: over budget it is kept as an idea
with the reason), keep an idea, triage, promote an idea, and convert through the single intake
(an irreversible opportunity waits for a human)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from memory.evidence import MAX_REFS, untrusted_reason
from missions.actions import submit_proposal
from missions.models import (
    Goal,
    GoalStatus,
    Proposal,
    ProposalSource,
    ProposalStatus,
    start_of_today,
)
from missions.schemas import ProposalInvalid
from missions.text import strip_invisible
from opportunities.models import (
    OPEN_OPPORTUNITY,
    DecisionRefused,
    Idea,
    IdeaStatus,
    NoticeLane,
    Opportunity,
    OpportunityStatus,
)
from opportunities.notices import notify
from opportunities.schemas import IdeaDraft, OpportunityDraft, OpportunityInvalid, parse
from opportunities.track_record import daily_budget
from opscore.actions import record_event
from opscore.db import db_now
from opscore.lanes import pause_of
from opscore.models import Agent, Policy


@dataclass(frozen=True)
class Proposed:
    """What became of a proposed opportunity: the opportunity, or the idea it was kept as."""

    opportunity: Opportunity | None = None
    idea: Idea | None = None
    kept_because: str = ""

    def as_json(self) -> dict:
        if self.opportunity is not None:
            o = self.opportunity
            return {"opportunity_id": o.id, "status": o.status, "kept_as_idea": False}
        return {"idea_id": self.idea.id, "kept_as_idea": True, "reason": self.kept_because}


def over_budget(draft: OpportunityDraft) -> str:
    """Why this one may not be a new opportunity today, or ''."""
    policy = Policy.objects.value("opportunity_policy")
    today = Opportunity.objects.filter(
        source_agent=draft.source_agent, created_at__gte=start_of_today()
    )
    budget, why_fewer = daily_budget(draft.source_agent, policy.max_new_per_scout_per_day)
    if today.count() >= budget:
        return (
            f"over budget: {draft.source_agent} proposed {budget} opportunities today "
            f"(opportunity_policy.max_new_per_scout_per_day{'; ' + why_fewer if why_fewer else ''})"
        )
    urgent = Q(urgency=5) & ~Q(impact=5)
    if draft.urgency == 5 and draft.impact < 5:
        escalations = today.filter(urgent).count()
        if escalations >= policy.max_urgent_per_day:
            return (
                f"over budget: {escalations} urgent escalation(s) today already "
                "(opportunity_policy.max_urgent_per_day; impact 5 is exempt)"
            )
    return ""


def joined(*whys: str) -> str:
    """Every reason a text is untrusted (an outside runtime wrote it, it cites crawled
    content), kept together: the inbox shows them all."""
    return "; ".join(filter(None, whys))[:300]


def propose_opportunity(data: dict, *, untrusted: str = "") -> Proposed:
    """Bad input (a missing answer, unresolvable evidence, a duplicate) raises
    OpportunityInvalid naming the fields; over budget, the item is kept as an idea.
    `untrusted`: why its text is not Opscore's own (an outside runtime wrote it)."""
    draft = parse(OpportunityDraft, data)
    with transaction.atomic():
        # One scout's proposals decide one at a time: counted apart, two arriving together
        # (two scout runs, the agent bus) both saw room for the last slot and both got in.
        Agent.objects.select_for_update().filter(slug=draft.source_agent).first()
        refuse_open_duplicate(draft)
        reason = over_budget(draft)
        if reason:
            idea = keep_as_idea(draft, reason, untrusted)
            return Proposed(idea=idea, kept_because=reason)
        opportunity = new_opportunity(draft, untrusted)
    alert_if_clear(opportunity)
    record_event(
        "opportunity.created",
        f"{draft.source_agent} sees an opportunity: {draft.title}",
        summary=draft.why_now[:500],
        tags=["opportunity", "new", draft.theme],
        payload={"opportunity_id": opportunity.id, "score": opportunity.score}
        # its title is the event's: work answering it is as trusted as the opportunity
        | ({"untrusted": opportunity.untrusted_reason} if opportunity.untrusted_reason else {}),
        agent_id=draft.source_agent,
        actor=f"agent:{draft.source_agent}",
    )
    return Proposed(opportunity=opportunity)


def refuse_open_duplicate(draft: OpportunityDraft) -> None:
    """Its key names an open opportunity: refused whatever the budget says (over budget, the
    copy was kept as an idea beside the opportunity it repeats)."""
    mine = Opportunity.objects.filter(source_agent=draft.source_agent, dedupe_key=draft.dedupe_key)
    if draft.dedupe_key and mine.filter(status__in=OPEN_OPPORTUNITY).exists():
        raise OpportunityInvalid({"dedupe_key": ["an open opportunity has this dedupe key"]})


def new_opportunity(draft: OpportunityDraft, untrusted: str) -> Opportunity:
    try:
        with transaction.atomic():
            return Opportunity.objects.create(
                **draft.fields(),
                untrusted_reason=joined(untrusted, untrusted_reason(draft.evidence)),
            )
    except IntegrityError:
        raise OpportunityInvalid(
            {"dedupe_key": ["an open opportunity has this dedupe key"]}
        ) from None


def alert_if_clear(opportunity: Opportunity) -> None:
    """A clear, high-confidence, urgent opportunity is an alert now, not tomorrow's digest."""
    if min(opportunity.impact, opportunity.confidence, opportunity.urgency) < 4:
        return
    if pause := pause_of("proactive"):
        hold_alert(opportunity, pause.why)
        return
    # its words may be an outside runtime's or a crawled page's: the message says so first
    why = opportunity.untrusted_reason
    warning = f"Untrusted: {why}. Its words are not Opscore's.\n\n" if why else ""
    notify(
        NoticeLane.ALERT,
        f"Opportunity: {opportunity.title}",
        f"{warning}{opportunity.why_now}\n\nNext: {opportunity.suggested_next_step}",
        dedupe_key=f"alert:opportunity:{opportunity.id}",
        evidence=opportunity.evidence,
        source_agent_id=opportunity.source_agent_id,
        of_lane="proactive",
    )


def hold_alert(opportunity: Opportunity, why: str) -> None:
    """A paused lane says nothing to a human (the agent bus still takes finds): the alert is
    not sent, an event says why, and the board and the digest after the pause list it."""
    record_event(
        "opportunity.alert_held",
        f"Alert for O{opportunity.id} not sent: the proactive lane is paused",
        summary=f"{why}; O{opportunity.id} waits on the board for the next digest"[:500],
        tags=["opportunity", "alert", "held"],
        payload={"opportunity_id": opportunity.id},
        agent_id=opportunity.source_agent_id,
    )


def keep_as_idea(draft: OpportunityDraft, reason: str, untrusted: str = "") -> Idea:
    body = f"{draft.why_now}\n\nNext step: {draft.suggested_next_step}"
    idea = create_idea(
        {
            "source_agent": draft.source_agent,
            "theme": draft.theme,
            "title": draft.title,
            "body": body,
            "evidence": draft.evidence,
            "tags": ["kept-from-opportunity"],
            "dedupe_key": draft.dedupe_key,  # a retry is the same idea, refused as a duplicate
        },
        untrusted=untrusted,
    )
    Idea.objects.filter(pk=idea.pk).update(kept_because=reason[:300])
    idea.kept_because = reason[:300]
    return idea


def create_idea(data: dict, *, untrusted: str = "") -> Idea:
    draft = parse(IdeaDraft, data)
    try:
        with transaction.atomic():
            fields = draft.model_dump(exclude={"source_agent"})
            fields["untrusted_reason"] = joined(untrusted, untrusted_reason(draft.evidence))
            return Idea.objects.create(**fields, source_agent_id=draft.source_agent)
    except IntegrityError:
        raise OpportunityInvalid({"dedupe_key": ["an open idea has this dedupe key"]}) from None


def review_idea(idea: Idea) -> Idea:
    """Compare-and-set: a review that read the idea as new before a promotion moved it would
    turn it back to `reviewed`, open to a second promotion."""
    if not Idea.objects.filter(pk=idea.pk, status=IdeaStatus.NEW).update(
        status=IdeaStatus.REVIEWED
    ):
        idea.refresh_from_db(fields=["status"])
        raise DecisionRefused(f"idea {idea.id} is {idea.status}, not new")
    idea.refresh_from_db()
    return idea


def promote_idea(idea: Idea, data: dict, *, promoted_by: str, untrusted: str = "") -> Opportunity:
    """An idea becomes an opportunity already triaged (the promotion is the triage), citing
    the idea's evidence plus the promotion's own; `untrusted` marks answers an outside runtime
    gave (its suggested next step becomes a proposal's payload)."""
    if idea.status not in (IdeaStatus.NEW, IdeaStatus.REVIEWED):
        raise DecisionRefused(f"idea {idea.id} is {idea.status}; only new or reviewed ideas move")
    merged = {"source_agent": idea.source_agent_id, "theme": idea.theme, "title": idea.title}
    merged |= {k: v for k, v in data.items() if v not in (None, "")}
    merged["evidence"] = [*idea.evidence, *own_evidence(data)]
    draft = parse(OpportunityDraft, merged)
    why = joined(untrusted, idea.untrusted_reason or untrusted_reason(draft.evidence))
    with transaction.atomic():
        # its scout's budget holds here too (ideas have none), counted as propose_opportunity's
        Agent.objects.select_for_update().filter(slug=draft.source_agent).first()
        reason = over_budget(draft)
        if not reason:
            opportunity = promoted_now(idea, draft, why, promoted_by)
    if reason:
        Idea.objects.filter(pk=idea.pk).update(kept_because=reason[:300])
        raise DecisionRefused(f"idea {idea.id} stays an idea: {reason}")
    alert_if_clear(opportunity)  # a clear one is an alert, however it became an opportunity
    return opportunity


def promoted_now(idea: Idea, draft: OpportunityDraft, why: str, promoted_by: str) -> Opportunity:
    # compare-and-set: of two promotions that both read the idea as open, one moves it
    movable = Idea.objects.filter(pk=idea.pk, status__in=(IdeaStatus.NEW, IdeaStatus.REVIEWED))
    if not movable.update(status=IdeaStatus.PROMOTED):
        now = Idea.objects.filter(pk=idea.pk).values_list("status", flat=True).first()
        raise DecisionRefused(f"idea {idea.id} is {now}; only new or reviewed ideas move")
    opportunity = Opportunity.objects.create(**draft.fields(), untrusted_reason=why)
    opportunity.decide("triaged", promoted_by, f"promoted from idea {idea.id}")
    Idea.objects.filter(pk=idea.pk).update(promoted_opportunity=opportunity)
    return opportunity


def own_evidence(data: dict) -> list:
    """The promotion's own refs. They are added to the idea's, so a string or an object
    given instead of a list would be spread into bogus refs (or not spread at all)."""
    refs = data.get("evidence")
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise OpportunityInvalid({"evidence": [f"a list of at most {MAX_REFS} {{type, id}} refs"]})
    return refs


def triage(opportunity: Opportunity, decision: str, *, reviewer: str, notes: str = ""):
    if decision == OpportunityStatus.CONVERTED:
        raise DecisionRefused("conversion goes through convert_opportunity (the intake)")
    source = opportunity.source_agent_id
    if decision == OpportunityStatus.ACCEPTED and reviewer in (source, f"agent:{source}"):
        # its own acceptance counted on the board as one people gave, and kept its slots
        raise DecisionRefused(
            f"O{opportunity.id} is {source}'s own find: another agent or a person accepts it"
        )
    with transaction.atomic():
        locked = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
        return locked.decide(decision, reviewer, notes)


def untrusted_opportunity(opportunity: Opportunity) -> str:
    """Its own mark, or its evidence read again now (a row cited may have been found
    untrusted since): the conversion carries it into the proposal."""
    why = opportunity.untrusted_reason or untrusted_reason(opportunity.evidence)
    return f"from O{opportunity.id}, which {why}"[:300] if why else ""


def _proposal_data(locked: Opportunity, target_agent: str, kind: str) -> tuple[dict, dict]:
    """The proposal's input, and what of the opportunity it could not carry (a goal closed
    since it was named), to be said on the proposal and the conversion's review."""
    payload = {
        "topic": strip_invisible(locked.title),
        "opportunity_id": locked.id,
        "why_now": strip_invisible(locked.why_now[:1000]),
        "suggested_next_step": strip_invisible(locked.suggested_next_step[:1000]),
    }
    data = {
        "agent": target_agent,
        "title": f"Opportunity: {locked.title}"[:200],
        "description": locked.why_now[:5000],
        "steps": [{"kind": kind, "payload": payload}],
        "dedupe_key": conversion_key(locked),
    }
    goal = Goal.objects.filter(pk=locked.goal_id).first() if locked.goal_id else None
    if goal is None:
        return data, {}
    if not goal.why_no_work_counts(db_now()):
        return data | {"goal": goal.id}, {}
    return data, {"goal_not_carried": {"goal": goal.id, "why": goal_not_carried(goal)}}


def conversion_key(opportunity: Opportunity) -> str:
    """`opportunity:ID`, and a new key after each refusal on file: a refused proposal keeps
    its key, and the intake would read it back as this attempt's answer, refusing every retry
    with the old reason. The opportunity's row is held, so two attempts never count alike."""
    cause = f"opportunity:{opportunity.id}"
    refused = Proposal.objects.filter(
        source=ProposalSource.OPPORTUNITY, cause_ref=cause, status=ProposalStatus.REJECTED
    ).count()
    return f"{cause}:retry-{refused}" if refused else cause


def goal_not_carried(goal: Goal) -> str:
    if goal.status == GoalStatus.ACTIVE:  # still open, but counting stopped at its deadline
        return f"goal G{goal.id} not carried: its deadline passed on {goal.due():%Y-%m-%d}"
    why = f": {goal.close_reason}" if goal.close_reason else ""
    return (
        f"goal G{goal.id} not carried: it was closed"
        f" {goal.closed_at:%Y-%m-%d %H:%M} UTC by {goal.closed_by}{why}"
    )[:500]


def convert_opportunity(
    opportunity: Opportunity,
    *,
    converted_by: str,
    target_agent: str,
    kind: str = "analyze",
    untrusted: str = "",
    handed_by=None,
    operator=None,
) -> Opportunity:
    """A proposal through the single intake, linked both ways. An irreversible one is a
    decision for the human: the proposal waits, pending, showing the exact action.
    `untrusted` and `handed_by`: an outside runtime asked for it (for another agent, whose
    daily limit its own agent's pays for, as with `enqueue-job`). `operator`: the person who
    converted it put the proposal forward, so they are its author and may not approve it."""
    with transaction.atomic():
        locked = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
        if locked.status not in OPEN_OPPORTUNITY or locked.status == "parked":
            raise DecisionRefused(f"O{locked.id} is {locked.status}; it cannot be converted")
        data, dropped = _proposal_data(locked, target_agent, kind)
        result = submit_proposal(
            data,
            source=ProposalSource.OPPORTUNITY,
            cause_ref=f"opportunity:{locked.id}",  # conversion_key counts refusals by it
            needs_human=locked.reversibility == "low",
            context={"opportunity_id": locked.id} | dropped,
            untrusted_reason=joined(untrusted, untrusted_opportunity(locked)),
            handed_by=handed_by,
            operator=operator,
        )
        proposal = result.proposal
        if proposal.status != ProposalStatus.REJECTED:
            locked.proposal = proposal
            notes = f"proposal P{proposal.id} {proposal.status}"
            if dropped:
                notes += f"; {dropped['goal_not_carried']['why']}"
            locked.decide("converted", converted_by, notes)
            return locked
    # The refused proposal stays on file (committed); the opportunity stays open.
    raise DecisionRefused(f"the intake refused P{proposal.id}: {proposal.reason}")


__all__ = [
    "DecisionRefused",
    "OpportunityInvalid",
    "ProposalInvalid",
    "Proposed",
    "convert_opportunity",
    "create_idea",
    "promote_idea",
    "propose_opportunity",
    "review_idea",
    "triage",
]
