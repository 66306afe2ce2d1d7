"""The proactive lane's standing orders: scouts (per role, daily) and the coordinator's ranking.

A scout builds its evidence packet; empty, it records `no_work` and says nothing. Otherwise one
LLM call (cheap tier) answers in a strict schema whose evidence must come from the packet;
offline, the answer is deterministic from the packet (a signal seen twice or more is one
opportunity). Every proposal goes through `propose_opportunity`, so the budgets hold: over them,
an item is kept as an idea with the reason. A malformed reply fails the run with the reason.
"""

from datetime import UTC, timedelta

from pydantic import BaseModel, ConfigDict, Field

from memory.evidence import untrusted_reason
from missions.models import start_of_today
from opportunities.actions import (
    DecisionRefused,
    OpportunityInvalid,
    convert_opportunity,
    create_idea,
    propose_opportunity,
)
from opportunities.calibration import weighted_score
from opportunities.models import Opportunity, OpportunityReview, ScoutWeight
from opportunities.packets import evidence_packet, others_ideas
from opscore.asking import Question, ask_json
from opscore.llm import LLMError, OverBudget
from opscore.llm_records import link_call
from opscore.models import Event, Policy, RunStatus
from opscore.standing_orders import RunResult

MAX_PER_RUN = 3
INSTRUCTIONS = (
    "Below is your evidence packet: signals from the last day, each with rows. Propose at most "
    f"{MAX_PER_RUN} opportunities that the evidence supports, fewer and stronger; none is a "
    'fine answer. Reply with JSON only: {"opportunities": [{"theme", "title", "why_now", '
    '"evidence": [{"type", "id"}], "impact": 1-5, "confidence": 1-5, "urgency": 1-5, '
    '"reversibility": "high"|"medium"|"low", "suggested_next_step", "cost_of_doing_nothing"}], '
    '"ideas": [{"title", "body"}]} — ideas for what is below the bar. Cite only rows from the '
    "packet."
)


class Drafted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    theme: str
    title: str
    why_now: str
    evidence: list[dict] = Field(min_length=1)
    impact: int
    confidence: int
    urgency: int
    reversibility: str
    suggested_next_step: str
    cost_of_doing_nothing: str = ""


class Noticed(BaseModel):
    """A weak signal worth keeping, below the opportunity bar."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(min_length=3, max_length=2000)


class ScoutReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opportunities: list[Drafted] = Field(max_length=MAX_PER_RUN)
    ideas: list[Noticed] = Field(default_factory=list, max_length=MAX_PER_RUN)


QUESTION = Question(
    purpose="opportunity.scout",
    prompt_version="scout.v1",
    instructions=INSTRUCTIONS,
    schema=ScoutReply,
    what="scout",
    temperature=0.3,
    max_tokens=1200,
)


def deterministic_answer(packet: dict, since) -> dict:
    """Offline: each signal seen at least twice is one opportunity citing its rows."""
    found = []
    for signal, rows in sorted(packet.items(), key=lambda kv: -len(kv[1]))[:MAX_PER_RUN]:
        if len(rows) < 2:
            continue
        what, _, subject = signal.partition(":")
        found.append(
            {
                "theme": what,
                "title": f"Repeated {what} {subject}"[:200],
                "why_now": f"{len(rows)} rows since {since:%Y-%m-%d %H:%M} UTC, the latest: "
                f"{rows[0]['text']}",
                "evidence": [{"type": r["type"], "id": r["id"]} for r in rows],
                "impact": 3,
                "confidence": 3 if len(rows) < 5 else 4,
                "urgency": 2 if len(rows) < 5 else 3,
                "reversibility": "high",
                "suggested_next_step": f"Look at the {subject} rows cited and name one fix",
            }
        )
    return {"opportunities": found}


def ask(order, packet: dict, since, run=None) -> tuple[ScoutReply, int | None]:
    """The scout's answer and the LLMCall that gave it (linked to its order run)."""
    agent = order.agent
    shown = {"signals": packet, "other_agents_ideas": others_ideas(agent.slug, since)}
    links = {"order_run": run.id} if run is not None else {}
    offline = deterministic_answer(packet, since.astimezone(UTC))
    return ask_json(QUESTION, agent, " ".join(packet), shown, offline, links)


def opportunity_scan(order, run):
    # after a pause, from its last real look; past the event log place that look kept
    since, after_event = run.window(timedelta(hours=24))
    looked_at = {"after_event": Event.objects.last_position()}  # first: what settles comes next
    packet = evidence_packet(order.agent_id, since, after_event)
    if not packet:
        return RunResult(RunStatus.NO_WORK, "evidence packet empty: nothing to say", looked_at)
    try:
        answer, call_id = ask(order, packet, since, run)
    except (LLMError, OverBudget, ValueError) as problem:
        return RunResult(RunStatus.FAILED, str(problem)[:500])
    cited = {(r["type"], r["id"]) for rows in packet.values() for r in rows}
    read = what_it_read(order, packet, since)
    counts, made = {"opportunities": 0, "kept_as_ideas": 0, "refused": []} | looked_at, []
    for index, drafted in enumerate(answer.opportunities):
        if any((ref.get("type"), ref.get("id")) not in cited for ref in drafted.evidence):
            counts["refused"].append(f"{index}: cites rows outside the packet")
            continue
        made.append(counts_one(order, drafted, counts, read))
    link_call(call_id, opportunities=[o for o in made if o is not None])
    keep_ideas(order, answer.ideas, counts, read)
    if not any((counts["opportunities"], counts["kept_as_ideas"])):
        return RunResult(RunStatus.NO_WORK, "packet read; nothing strong enough", counts)
    summary = f"{counts['opportunities']} opportunity(ies), {counts['kept_as_ideas']} idea(s)"
    return RunResult(RunStatus.COMPLETED, summary, counts)


def what_it_read(order, packet: dict, since) -> str:
    """Why the scout's words are untrusted, or '': its model read every row of the packet
    (a crawled page's title among them) and the other agents' ideas, whatever it then cites,
    so an answer citing only a trusted row may still be the page's words."""
    rows = [{"type": r["type"], "id": r["id"]} for found in packet.values() for r in found]
    rows += [{"type": "idea", "id": i["idea"]} for i in others_ideas(order.agent_id, since)]
    return untrusted_reason(rows, how=f"{order.name} read")


def counts_one(order, drafted: Drafted, counts: dict, read: str = "") -> int | None:
    """Counts the drafted opportunity in; returns its id when it became one."""
    data = drafted.model_dump() | {
        "source_agent": order.agent_id,
        "owner_candidate": order.agent_id,
        "dedupe_key": f"{order.name}:{drafted.title}"[:200],
    }
    try:
        made = propose_opportunity(data, untrusted=read)
    except OpportunityInvalid as invalid:
        counts["refused"].append(str(invalid)[:200])
        return None
    counts["opportunities" if made.opportunity else "kept_as_ideas"] += 1
    return made.opportunity.id if made.opportunity else None


def keep_ideas(order, ideas: list[Noticed], counts: dict, read: str = "") -> None:
    for noticed in ideas:
        data = {"source_agent": order.agent_id, "theme": order.name, "tags": ["scout"]}
        data |= noticed.model_dump() | {"dedupe_key": f"{order.name}:{noticed.title}"[:200]}
        try:
            create_idea(data, untrusted=read)
            counts["kept_as_ideas"] += 1
        except OpportunityInvalid as invalid:
            counts["refused"].append(str(invalid)[:200])


def opportunity_ranking(order, run):
    """The strongest open opportunities become proposals, at most K a day (policy); an
    irreversible one becomes a decision for the human (its proposal waits, pending)."""
    room = Policy.objects.value("opportunity_policy").max_converted_per_day - converted_today()
    open_ones = Opportunity.objects.filter(status__in=["new", "triaged", "accepted"])
    weights = ScoutWeight.objects.current()  # the scouts' calibration (opportunities.calibration)
    strongest = open_ones.strongest(weights)[:200]
    ranked = sorted(strongest, key=lambda o: (-weighted_score(o, weights), o.id))
    if not ranked:
        return RunResult(RunStatus.NO_WORK, "no open opportunity to rank")
    done, refused = [], []
    # a refusal leaves its slot to the next strongest; at most as many refusals as slots, so
    # an intake that refuses them all (a spent day) is not asked for every open one
    for opportunity in ranked[: max(room, 0) * 2]:
        if len(done) >= room:
            break
        owner = opportunity.owner_candidate_id or opportunity.source_agent_id
        try:
            converted = convert_opportunity(
                opportunity, converted_by=f"agent:{order.agent_id}", target_agent=owner
            )
            done.append({"opportunity": converted.id, "proposal": converted.proposal_id})
        except DecisionRefused as reason:
            refused.append(str(reason))
    evidence = {"ranked": [o.id for o in ranked[:20]], "converted": done, "refused": refused}
    if room <= 0:
        return RunResult(RunStatus.COMPLETED, "ranked; today's conversions are spent", evidence)
    return RunResult(RunStatus.COMPLETED, f"ranked {len(ranked)}, converted {len(done)}", evidence)


def converted_today() -> int:
    return OpportunityReview.objects.filter(
        decision="converted", created_at__gte=start_of_today()
    ).count()


HANDLERS = {"opportunity_scan": opportunity_scan, "opportunity_ranking": opportunity_ranking}
