"""Idle cognition (phase 5): a short, bounded window of open-ended thought per agent, only
when there is nothing real to do. Gate first: queued, blocked or urgent work means `no_work`.
Then its evidence packet — what changed since its last look, from rows (events that are not
bookkeeping, and its role's signals); nothing changed is `no_work` with what was checked, and
no call. Otherwise one cheap-tier call with the role's theme, the five seed questions and the
packet; it may only keep ideas (at most three a day per agent), each citing only packet rows,
never message a human. Silence is a fine answer."""

import json
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from memory.evidence import untrusted_reason
from missions.models import Step, StepStatus, start_of_today
from opportunities.actions import OpportunityInvalid, create_idea
from opportunities.models import Idea, Opportunity
from opportunities.packets import events_window, evidence_packet
from opscore.db import db_now
from opscore.llm import LLMError, LLMRequest, OverBudget, call_llm, parse_llm_reply
from opscore.models import SWITCHED_OFF, Event, Policy, RunStatus
from opscore.news import not_news
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
    evidence: list[dict] = Field(default_factory=list, max_length=10)


CHANGES_SHOWN = 10


def last_look(order, run):
    """Since the previous run of this order that got as far as looking (or a day): when, and
    its place in the event log (None if it kept none); a slot its agent's off switch stopped
    says what it checked, the switch, and looked at nothing."""
    previous = (
        order.runs.filter(scheduled_for__lt=run.scheduled_for, evidence__has_key="checked")
        .exclude(SWITCHED_OFF)
        .order_by("-scheduled_for")
        .first()
    )
    if previous is not None:
        place = previous.evidence["checked"].get("after_event")
        return previous.started_at or previous.scheduled_for, place
    return run.scheduled_for - timedelta(hours=24), None


def what_changed(order, since, after_event=None) -> list[dict]:
    """The rows that changed since the last look: events past its place in the log (aside from
    what opscore.news says is not news) and the role's signals."""
    events = events_window(since, after_event).exclude(not_news())
    rows = [
        {"type": "event", "id": e.id, "text": f"{e.kind}: {e.title}"[:160]}
        for e in events.order_by("-id")[:CHANGES_SHOWN]
    ]
    seen = {(r["type"], r["id"]) for r in rows}
    for signal_rows in evidence_packet(order.agent_id, since, after_event).values():
        rows += [r for r in signal_rows if (r["type"], r["id"]) not in seen][:3]
    return rows


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


def think(order, room: int, changed: list[dict]) -> IdleReply:
    theme = THEMES.get(order.agent_id, "what the company keeps missing")
    system, injected = system_prompt(order.agent, theme)
    ask = (
        f"A quiet moment. Your theme: {theme}. Consider:\n- " + "\n- ".join(QUESTIONS) + "\n\n"
        f"What changed since you last looked (rows):\n{json.dumps(changed)}\n\n"
        f"Keep at most {room} idea(s) worth a colleague's minute; none is a fine answer. Reply "
        'with JSON only: {"ideas": [{"title", "body", "evidence": [{"type", "id"}]}]}, citing '
        "only the rows above."
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
    since, after_event = last_look(order, run)
    looked_at = Event.objects.last_position()  # taken first: what settles meanwhile comes next
    changed = what_changed(order, since, after_event)
    checked = {"checked": {"since": since.isoformat(), "rows": len(changed)}}
    checked["checked"]["after_event"] = looked_at
    if not changed:
        return RunResult(
            RunStatus.NO_WORK, f"nothing changed since {since:%Y-%m-%d %H:%M}", checked
        )
    try:
        answer = think(order, room, changed)
    except (LLMError, OverBudget, ValueError) as problem:
        return RunResult(RunStatus.FAILED, str(problem)[:500], checked)
    kept, dropped = keep_thoughts(order, answer.ideas[:room], changed)
    dropped += [left_out(t, f"is past the day's {cap} idle ideas") for t in answer.ideas[room:]]
    checked |= {"dropped": dropped} if dropped else {}
    why_not = f"; dropped {len(dropped)}: " + "; ".join(d["reason"] for d in dropped)
    if not kept:
        summary = "thought about it; nothing worth keeping" + (why_not if dropped else "")
        return RunResult(RunStatus.NO_WORK, summary[:500], checked)
    summary = f"kept {len(kept)} idea(s)" + (why_not if dropped else "")
    return RunResult(RunStatus.COMPLETED, summary[:500], checked | {"ideas": kept})


def keep_thoughts(order, thoughts: list[Thought], changed: list[dict]) -> tuple[list, list]:
    """Each thought becomes an idea citing its rows: the ideas' ids, and each thought left out
    with why. A thought citing rows it was not shown is left out (it would be evidence nobody
    saw), and so is one already open as an idea; the run's record says so. Every idea is as
    untrusted as the rows its model read (a crawled page's title among them), whatever it cites."""
    shown = {(r["type"], r["id"]) for r in changed}
    rows = [{"type": r["type"], "id": r["id"]} for r in changed]
    read = untrusted_reason(rows, how=f"{order.name} read")
    kept, dropped = [], []
    for thought in thoughts:
        cited = [{"type": e.get("type"), "id": e.get("id")} for e in thought.evidence]
        unseen = [c for c in cited if (c["type"], c["id"]) not in shown]
        if unseen:
            named = ", ".join(f"{c['type']} {c['id']}" for c in unseen)
            dropped.append(left_out(thought, f"cites {named}, which it was not shown"))
            continue
        data = {"source_agent": order.agent_id, "theme": "idle", "tags": ["idle"]}
        data |= {"title": thought.title, "body": thought.body, "evidence": cited}
        data["dedupe_key"] = f"idle:{thought.title}"[:200]
        try:
            kept.append(create_idea(data, untrusted=read).id)
        except OpportunityInvalid as invalid:
            again = "dedupe_key" in invalid.errors
            dropped.append(left_out(thought, "is already an open idea" if again else str(invalid)))
    return kept, dropped


def left_out(thought: Thought, reason: str) -> dict:
    return {"title": thought.title[:200], "reason": f"{thought.title[:80]!r} {reason}"[:300]}


HANDLERS = {"idle_cognition": idle_cognition}
