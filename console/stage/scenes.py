"""Derived views of the ledger for the Stage: swimlane geometry, office states, whiteboard."""

from datetime import timedelta

from django.db.models import Count, Q

from console.stage import floor
from missions.models import Mission, MissionStatus, Step, StepStatus, start_of_today
from opscore.budgets import spent_today_usd
from opscore.models import Agent
from opscore.prompting import voice_modifiers
from roundtable.models import Conversation, ConversationStatus


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
        # work is due for it: at its desk, about to start
        ("waiting", _agents_who(Step.objects.filter(status=StepStatus.QUEUED, run_after__lte=now))),
    ]


def office_states(now) -> list[dict]:
    """Each agent's state from live rows — working, chatting, celebrating, waiting (work is
    due for it), or idle — and its own tile: in front of its desk, a seat at the meeting table
    (six) or a place at the coffee machine (three; the other idle agents stay at their desks).
    Labels say where an agent is: "coffee" only at the machine. The page then follows the
    event stream, walking agents from tile to tile."""
    activity = _activity(now)
    sprites, taken = [], {"chatting": 0, "coffee": 0}
    for index, agent in enumerate(Agent.objects.enabled()[:10]):
        state = next((name for name, who in activity if agent.slug in who), "idle")
        seat = tile = floor.seat_of(index)
        if state == "chatting" and taken["chatting"] < len(floor.TABLE_SEATS):
            tile = floor.TABLE_SEATS[taken["chatting"]]
            taken["chatting"] += 1
        elif state == "idle" and taken["coffee"] < len(floor.COFFEE_SPOTS):
            tile, state = floor.COFFEE_SPOTS[taken["coffee"]], "coffee"
            taken["coffee"] += 1
        x, y = floor.sprite_at(tile)
        sprites.append(
            {
                "slug": agent.slug,
                "name": agent.display_name,
                "state": state,
                "voice": voice_modifiers(agent.slug),
                "tint": index % 10,
                "desk": floor.desk_of(index),
                "seat": seat,
                "tile": tile,
                "x": x,
                "y": y,
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
    spend = spent_today_usd()
    return {
        "missions_today": done["total"],
        "success_rate": rate,
        "queue_depth": Step.objects.filter(status=StepStatus.QUEUED).count(),
        "llm_spend": f"${spend:.2f}",
    }
