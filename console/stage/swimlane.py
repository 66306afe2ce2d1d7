"""The swimlane: one lane per agent over a window of 1, 6 or 24 hours with a time axis and a
short stretch of the future, so running, queued and delayed steps are all drawn, and an agent
that was disabled keeps the history it made."""

from datetime import timedelta

from django.db.models import Q

from missions.models import Step, StepStatus
from opscore.models import Agent

ZOOMS = (1, 6, 24)
LANE_HEIGHT = 28
WIDTH = 1000
FUTURE = 0.1  # of the window, to the right of "now"
MAX_STEPS = 3000
# The characters of a name that fit beside its lane (135 units of the SVG, at 13 px on a
# phone): a longer slug ran over its lane, or past the phone's scroller, where it was cut off
# unread. It ends in an ellipsis instead, whole in its tooltip (the template's clip keeps a
# name of unusually wide letters off the lane all the same).
NAME_CHARS = 19


def zoom_of(value) -> int:
    try:
        hours = int(value)
    except (TypeError, ValueError):
        return 6
    return hours if hours in ZOOMS else 6


def lane_agents(since) -> list[str]:
    """Enabled agents, and any other agent with a step in the window (history is kept)."""
    active = set(
        Step.objects.filter(Q(finished_at__gte=since) | Q(finished_at__isnull=True))
        .values_list("agent_id", flat=True)
        .distinct()
    )
    enabled = set(Agent.objects.enabled().values_list("slug", flat=True))
    return sorted(enabled | active)


def swimlane(now, hours: int = 6) -> dict:
    since = now - timedelta(hours=hours)
    until = now + timedelta(hours=hours * FUTURE)
    span = (until - since).total_seconds()

    def x(moment) -> float:
        moment = min(max(moment, since), until)
        return round((moment - since).total_seconds() / span * WIDTH, 1)

    agents = lane_agents(since)
    disabled = set(agents) - set(Agent.objects.enabled().values_list("slug", flat=True))
    steps = (
        Step.objects.filter(Q(finished_at__gte=since) | Q(finished_at__isnull=True))
        .filter(agent__in=agents)
        .exclude(status=StepStatus.CANCELLED, finished_at__isnull=True)
        .prefetch_related("attempts")
        .order_by("id")[:MAX_STEPS]
    )
    bars = [bar_of(step, agents.index(step.agent_id), now, x) for step in steps]
    ticks = [since + (now - since) * i / 6 for i in range(7)]
    lanes = [lane_of(i, slug, slug in disabled) for i, slug in enumerate(agents)]
    return {
        "lanes": lanes,
        "label": spoken_label(hours, lanes),
        "disabled": disabled,
        "bars": bars,
        "ticks": [{"x": x(t), "label": t} for t in ticks],
        "now_x": x(now),
        "height": len(agents) * LANE_HEIGHT + 24,
        "width": WIDTH,
        "hours": hours,
        "zooms": ZOOMS,
    }


def lane_of(i: int, slug: str, off: bool) -> dict:
    """A lane's place and its names: `name` beside it, `end` at the axis's end (a phone's
    view), each at most NAME_CHARS; `title` whole."""
    mark = " (off)" if off else ""
    return {
        "agent": slug,
        "y": i * LANE_HEIGHT,
        "label_y": i * LANE_HEIGHT + 18,
        "title": slug + mark,
        "name": shortened(slug, NAME_CHARS - len(mark)) + mark,
        "end": shortened(slug, NAME_CHARS),
    }


def spoken_label(hours: int, lanes: list[dict]) -> str:
    """What a screen reader says for the drawing, one image to it (role="img"): every lane's
    agent whole, where the names drawn beside the lanes end in an ellipsis."""
    window = f"steps per agent over the last {hours} hour{'s' if hours != 1 else ''}"
    if not lanes:
        return f"{window}: no agents yet"
    return f"{window}, one lane each: {', '.join(lane['title'] for lane in lanes)}"


def shortened(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def bar_of(step, lane: int, now, x) -> dict:
    """Ran (first attempt → end, or now), waiting (queued → now) or due later (a marker)."""
    attempts = list(step.attempts.all())
    if attempts:
        start, end, shape = min(a.started_at for a in attempts), step.finished_at or now, "ran"
    elif step.run_after > now:
        start, end, shape = step.run_after, step.run_after, "due"
    else:
        start, end, shape = step.created_at, now, "waiting"
    return {
        "id": step.id,
        "kind": step.kind,
        "status": step.status,
        "agent": step.agent_id,
        "shape": shape,
        "x": x(start),
        "width": max(round(x(end) - x(start), 1), 3),
        "y": lane * LANE_HEIGHT + 4,
        "run_after": step.run_after,
    }
