"""Idle cognition (phase 5): a short, bounded window of open-ended thought per agent, only
when there is nothing real to do. Gate first: queued, blocked or urgent work means `no_work`.
One cheap-tier call with the role's theme and the five seed questions; it may only keep ideas
(at most three a day per agent), never message a human. Silence is a fine answer."""

from pydantic import BaseModel, ConfigDict, Field

from missions.models import Step, StepStatus, start_of_today
from opportunities.actions import OpportunityInvalid, create_idea
from opportunities.models import Idea, Opportunity
from opscore.db import db_now
from opscore.llm import LLMError, LLMRequest, OverBudget, call_llm, parse_llm_reply
from opscore.models import Policy, RunStatus
from opscore.prompting import system_prompt
from opscore.standing_orders import RunResult

MAX_IDEAS_PER_DAY = 3
THEMES = {
    "coordinator": "cross-system blind spots, stale priorities, missing bets",
    "auditor": "systemic fragility, silent failure modes, audit blind spots",
    "project-tracker": "latent dependencies across projects",
    "knowledge": "connecting fragments into reusable abstractions",
    "devops": "automation, reliability, observability and toil",
    "product-metrics": "underexplored bets and data contradictions",
    "design": "clarity, flow simplification and coherence",
    "security": "latent risk chains and assumptions to challenge",
    "research": "overlooked trends not yet actionable",
    "publisher": "themes, narratives and missing frames",
}
QUESTIONS = [
    "What changed that nobody has acted on yet?",
    "What pattern is repeating that we keep treating as isolated?",
    "What belief do we keep acting on that might now be wrong?",
    "What automation or simplification would pay off repeatedly?",
    "What decision should probably be revisited?",
]


class Thought(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(min_length=3, max_length=2000)


class IdleReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ideas: list[Thought] = Field(max_length=MAX_IDEAS_PER_DAY)


def busy_with(agent_slug: str) -> str:
    """Real work pending for this agent (or anything urgent at all), in words, or ''."""
    mine = Step.objects.filter(agent_id=agent_slug)
    queued = mine.filter(status=StepStatus.QUEUED, run_after__lte=db_now()).count()
    blocked = mine.filter(status=StepStatus.BLOCKED).count()
    urgent = Opportunity.objects.filter(status__in=["new", "triaged", "accepted"], urgency=5)
    if queued or blocked:
        return f"{queued} queued and {blocked} blocked step(s) of its own"
    if urgent.exists():
        return f"{urgent.count()} urgent open opportunity(ies)"
    return ""


def ideas_today(agent_slug: str) -> int:
    return Idea.objects.filter(
        source_agent=agent_slug, created_at__gte=start_of_today(), tags__contains=["idle"]
    ).count()


def think(order, room: int) -> IdleReply:
    theme = THEMES.get(order.agent_id, "what the company keeps missing")
    system, injected = system_prompt(order.agent, theme)
    ask = (
        f"A quiet moment. Your theme: {theme}. Consider:\n- " + "\n- ".join(QUESTIONS) + "\n\n"
        f"Keep at most {room} idea(s) worth a colleague's minute; none is a fine answer. Reply "
        'with JSON only: {"ideas": [{"title", "body"}]}.'
    )
    request = LLMRequest(
        system=system,
        messages=[{"role": "user", "content": ask}],
        temperature=0.7,
        max_tokens=Policy.objects.value("opportunity_policy").idle_max_tokens,
        tier="cheap",
        injected=injected,
        offline_hint={"json": {"ideas": []}},  # offline, silence: no invented thoughts
    )
    reply = call_llm(request, agent=order.agent, purpose="idle.think", prompt_version="idle.v1")
    return parse_llm_reply(reply, IdleReply, "idle")


def idle_cognition(order, run):
    busy = busy_with(order.agent_id)
    if busy:
        return RunResult(RunStatus.NO_WORK, f"not idle: {busy}")
    cap = Policy.objects.value("opportunity_policy").idle_max_ideas_per_day
    room = cap - ideas_today(order.agent_id)
    if room <= 0:
        return RunResult(RunStatus.NO_WORK, f"{cap} idle ideas today already")
    try:
        answer = think(order, room)
    except (LLMError, OverBudget, ValueError) as problem:
        return RunResult(RunStatus.FAILED, str(problem)[:500])
    kept = []
    for thought in answer.ideas[:room]:
        data = {"source_agent": order.agent_id, "theme": "idle", "tags": ["idle"]}
        data |= {
            "title": thought.title,
            "body": thought.body,
            "dedupe_key": f"idle:{thought.title}"[:200],
        }
        try:
            kept.append(create_idea(data).id)
        except OpportunityInvalid:
            continue  # the same thought is already an open idea
    if not kept:
        return RunResult(RunStatus.NO_WORK, "thought about it; nothing worth keeping")
    return RunResult(RunStatus.COMPLETED, f"kept {len(kept)} idea(s)", {"ideas": kept})


HANDLERS = {"idle_cognition": idle_cognition}
