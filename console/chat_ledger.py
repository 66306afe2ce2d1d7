"""What the chat may say: facts read from the ledger's rows, each with the rows it read.

The coordinator words an answer only from these (console/chat.py), so nothing it says is
invented: every fact names its rows (M5, S12, P3, L40) and links to them. Which facts a message
gets is decided by plain keyword rules, the same with or without a model."""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum
from django.urls import NoReverseMatch, reverse

from missions.models import Mission, Proposal, Step, StepStatus
from opscore.budgets import spent_today_usd
from opscore.models import LLMCall

REF = re.compile(r"\b([MSP])(\d{1,12})\b")
UNREAD_REF = re.compile(r"\b[LGTCORFIA]\d{1,12}\b")  # ids of rows the chat does not read
ON_THE_GO = ["approved", "running"]
TOPICS = {
    "running": ("running", "doing", "busy", "going on", "status", "now", "working"),
    "failed": ("fail", "why", "error", "broke", "wrong", "dead"),
    "cost": ("cost", "spend", "spent", "budget", "money", "$", "expensive", "price"),
    "blocked": ("blocked", "stuck", "waiting", "question"),
}


@dataclass(frozen=True)
class Ref:
    ref: str
    url: str
    what: str


@dataclass
class Fact:
    text: str
    refs: list[Ref] = field(default_factory=list)


def link(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def mission_ref(mission: Mission) -> Ref:
    return Ref(f"M{mission.id}", link("stage-mission", mission.id), mission.title)


def step_ref(step: Step) -> Ref:
    url = link("stage-mission", step.mission_id)
    return Ref(f"S{step.id}", f"{url}#S{step.id}" if url else "", f"{step.kind} step")


def call_ref(call: LLMCall) -> Ref:
    return Ref(f"L{call.id}", link("admin:opscore_llmcall_change", call.id), call.purpose)


def topics_of(text: str) -> list[str]:
    lowered = text.lower()
    return [name for name, words in TOPICS.items() if any(w in lowered for w in words)]


def facts_for(text: str) -> list[Fact]:
    """The rows a message asks about: the ids it names, then its topics (an overview when it
    names none)."""
    facts = [fact for letter, number in REF.findall(text) if (fact := about(letter, int(number)))]
    facts += [Fact(f"{ref} is not a row the chat reads.") for ref in unread_refs(text)]
    for topic in topics_of(text) or ([] if facts else ["running", "failed", "cost"]):
        facts += TOPIC_FACTS[topic]()
    return facts[:20]


def unread_refs(text: str) -> list[str]:
    """The ids a message names that no fact answers (a goal, a run, a call…), each once: said
    so, the model may name them back without being taken for inventing them."""
    return list(dict.fromkeys(UNREAD_REF.findall(text)))[:5]


def about(letter: str, pk: int) -> Fact | None:
    if letter == "M":
        mission = Mission.objects.filter(pk=pk).first()
        return mission_fact(mission) if mission else Fact(f"There is no mission M{pk}.")
    if letter == "S":
        step = Step.objects.filter(pk=pk).first()
        return step_fact(step) if step else Fact(f"There is no step S{pk}.")
    proposal = Proposal.objects.filter(pk=pk).first()
    if proposal is None:
        return Fact(f"There is no proposal P{pk}.")
    why = f": {proposal.reason}" if proposal.reason else ""
    url = link("admin:missions_proposal_change", proposal.id)
    ref = Ref(f"P{proposal.id}", url, proposal.title)
    return Fact(f"P{proposal.id} '{proposal.title}' is {proposal.status}{why}.", [ref])


def mission_fact(mission: Mission) -> Fact:
    steps = mission.steps.order_by("position", "id")
    counts = ", ".join(f"{n} {s}" for s, n in _status_counts(steps))
    text = f"M{mission.id} '{mission.title}' ({mission.agent_id}) is {mission.status}: {counts}."
    refs = [mission_ref(mission)]
    for step in steps.filter(status__in=["failed", "dead", "blocked"])[:3]:
        text += f" S{step.id} {step.kind} {step.status}: {step.last_error or step.blocked_reason}."
        refs.append(step_ref(step))
    calls = LLMCall.objects.filter(step__mission=mission)
    spent = calls.aggregate(usd=Sum("cost_usd"), n=Count("id"))
    if spent["n"]:
        text += f" Its {spent['n']} model calls cost ${spent['usd'] or 0:.4f}."
        refs += [call_ref(c) for c in calls.order_by("-cost_usd", "id")[:3]]
    return Fact(text, refs)


def step_fact(step: Step) -> Fact:
    why = step.last_error or step.blocked_reason
    text = f"S{step.id} {step.kind} of M{step.mission_id} is {step.status}"
    text += f" after {step.attempt_count} attempt(s)" + (f": {why}." if why else ".")
    return Fact(text, [step_ref(step), mission_ref(step.mission)])


def _status_counts(steps) -> list[tuple[str, int]]:
    rows = steps.order_by().values_list("status").annotate(n=Count("id")).order_by("status")
    return [(status, n) for status, n in rows] or [("no steps", 0)]


def running_facts() -> list[Fact]:
    missions = list(Mission.objects.filter(status__in=ON_THE_GO).order_by("-id")[:8])
    if not missions:
        return [Fact("No mission is running or waiting to run.")]
    return [mission_fact(m) for m in missions]


def failed_facts() -> list[Fact]:
    ended = Mission.objects.filter(status__in=["failed", "timed_out"]).order_by("-id")[:5]
    facts = [mission_fact(m) for m in ended]
    return facts or [Fact("No mission has failed or timed out.")]


def cost_facts() -> list[Fact]:
    """The day's spend as the status page and the budget count it: a live replay's calls keep
    no row (rolled back), so what they cost is told beside the calls' lanes, not left out."""
    today = LLMCall.objects.today()
    lanes = today.order_by().values_list("lane").annotate(usd=Sum("cost_usd"), n=Count("id"))
    total = Decimal(spent_today_usd())
    if not lanes and not total:
        return [Fact("No model call has been made today.")]
    parts = ", ".join(f"{lane} ${usd or 0:.4f} ({n} calls)" for lane, usd, n in lanes)
    text = f"Model spend today: ${total:.4f} in all; by lane {parts or 'none'}"
    if (replays := total - Decimal(today.spend())) > 0:
        text += f"; live replays ${replays:.4f} (their calls keep no row)"
    top = [call_ref(c) for c in today.order_by("-cost_usd", "-id")[:5]]
    return [Fact(f"{text}.", top)]


def blocked_facts() -> list[Fact]:
    steps = Step.objects.filter(status=StepStatus.BLOCKED).select_related("mission")
    facts = [step_fact(s) for s in steps.order_by("-id")[:8]]
    return facts or [Fact("No step is blocked.")]


TOPIC_FACTS = {
    "running": running_facts,
    "failed": failed_facts,
    "cost": cost_facts,
    "blocked": blocked_facts,
}
