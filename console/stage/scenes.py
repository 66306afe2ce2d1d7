"""Derived views of the ledger for the Stage: swimlane geometry, office states, whiteboard."""

from datetime import timedelta

from django.db.models import Count, Q

from missions.models import Mission, MissionStatus, Step, StepStatus, start_of_today
from opscore.models import Agent, LLMCall
from opscore.prompting import voice_modifiers
from roundtable.models import Conversation, ConversationStatus

LANE_HEIGHT = 28
WIDTH = 1000


def swimlane(now, hours: int = 6) -> dict:
    """One lane per agent; each step a bar from its first attempt to its end (or now)."""
    since = now - timedelta(hours=hours)
    span = (now - since).total_seconds()
    agents = list(Agent.objects.enabled().values_list("slug", flat=True))
    steps = Step.objects.filter(
        Q(finished_at__gte=since) | Q(finished_at__isnull=True),
        agent__in=agents,
        attempts__isnull=False,
    ).prefetch_related("attempts")[:2000]
    bars = []
    for step in steps:
        attempts = list(step.attempts.all())
        start = max(min(a.started_at for a in attempts), since)
        end = step.finished_at or now
        bars.append(
            {
                "id": step.id,
                "kind": step.kind,
                "status": step.status,
                "agent": step.agent_id,
                "x": round((start - since).total_seconds() / span * WIDTH, 1),
                "width": max(round((end - start).total_seconds() / span * WIDTH, 1), 3),
                "y": agents.index(step.agent_id) * LANE_HEIGHT + 4,
            }
        )
    lanes = [
        {"agent": slug, "y": i * LANE_HEIGHT, "label_y": i * LANE_HEIGHT + 18}
        for i, slug in enumerate(agents)
    ]
    return {
        "lanes": lanes,
        "bars": bars,
        "height": len(agents) * LANE_HEIGHT + 8,
        "width": WIDTH,
        "hours": hours,
    }


def _agents_who(steps) -> set[str]:
    return set(steps.values_list("agent_id", flat=True))


def _activity(now) -> list[tuple[str, set[str]]]:
    """Who is doing what, in order of precedence."""
    chatting = set()
    talks = Conversation.objects.filter(status=ConversationStatus.RUNNING)
    for people in talks.values_list("participants", flat=True):
        chatting.update(people)
    recent = now - timedelta(minutes=2)
    return [
        ("working", _agents_who(Step.objects.filter(status=StepStatus.RUNNING))),
        ("chatting", chatting),
        (
            "celebrating",
            _agents_who(Step.objects.filter(status=StepStatus.SUCCEEDED, finished_at__gte=recent)),
        ),
        # work is waiting: on the way to the desk
        ("walking", _agents_who(Step.objects.filter(status=StepStatus.QUEUED, run_after__lte=now))),
    ]


def office_states(now) -> list[dict]:
    """Each agent's sprite state from live rows: working, chatting, celebrating, walking (work is
    waiting for it) or coffee (idle)."""
    activity = _activity(now)
    sprites = []
    for index, agent in enumerate(Agent.objects.enabled()):
        state = next((name for name, who in activity if agent.slug in who), "coffee")
        sprites.append(
            {
                "slug": agent.slug,
                "name": agent.display_name,
                "state": state,
                "voice": voice_modifiers(agent.slug),
                "x": 40 + (index % 5) * 110,
                "y": 150 + (index // 5) * 90,
            }
        )
    return sprites


def sky_for(local_hour: int) -> str:
    if 7 <= local_hour < 18:
        return "day"
    if 18 <= local_hour < 21 or 5 <= local_hour < 7:
        return "dusk"
    return "night"


def whiteboard() -> dict:
    today = Mission.objects.filter(created_at__gte=start_of_today())
    done = today.aggregate(
        total=Count("id"),
        ok=Count("id", filter=Q(status=MissionStatus.SUCCEEDED)),
        finished=Count("id", filter=Q(status__in=[MissionStatus.SUCCEEDED, MissionStatus.FAILED])),
    )
    rate = round(100 * done["ok"] / done["finished"]) if done["finished"] else None
    spend = LLMCall.objects.today().spend()
    return {
        "missions_today": done["total"],
        "success_rate": rate,
        "queue_depth": Step.objects.filter(status=StepStatus.QUEUED).count(),
        "llm_spend": f"${spend:.2f}",
    }
