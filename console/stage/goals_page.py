"""The goals pages: every goal with its progress against its target, and one goal's progress
line over time (its snapshots), the missions under it and its versions."""

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import visible_or_login
from console.stage.health import health_summary
from console.stage.mission_page import not_found
from missions.goals import (
    goal_state,
    listed_goals,
    measure_changed,
    measured_snapshots,
    mission_counts,
    missions_under,
)
from missions.models import Goal

CHART_W, CHART_H, PAD = 600, 160, 8
MAX_POINTS = 200
LISTED = 100  # goals on the Goals page; past it, the page says how many more


@require_GET
def goals_page(request):
    if refusal := visible_or_login(request):
        return refusal
    goals, total = listed_goals(LISTED)
    rows = [(goal, goal_state(goal), mission_counts(goal)) for goal in goals]
    context = {"rows": rows, "total": total, "health": health_summary(), "view": "goals"}
    return render(request, "stage/goals.html", context)


@require_GET
def goal_page(request, goal_id: int):
    if refusal := visible_or_login(request):
        return refusal
    goal = Goal.objects.select_related("owner").filter(pk=goal_id).first()
    if goal is None:
        return not_found(request, f"goal G{goal_id}")
    snapshots = measured_snapshots(goal)
    context = {
        "goal": goal,
        "state": goal_state(goal),
        "chart": chart(goal, line_points(snapshots)),
        "points": list(snapshots.order_by("-taken_at")[:30]),
        "measure_changed": measure_changed(goal),
        "missions": list(missions_under(goal)[:50]),
        "counts": mission_counts(goal),
        "versions": list(goal.versions.all()),
        "health": health_summary(),
        "view": "goal",
    }
    return render(request, "stage/goal.html", context)


def line_points(snapshots) -> list:
    """At most MAX_POINTS snapshots, oldest first, spread over the goal's whole life: every
    n-th from the latest back, and the first. The latest MAX_POINTS alone (eight days of
    hourly samples) drew a line that began weeks after the goal did."""
    total = snapshots.count()
    newest_first = (F("taken_at").desc(), F("id").desc())
    ranked = snapshots.annotate(rank=Window(RowNumber(), order_by=newest_first))
    if total > MAX_POINTS:  # room for MAX_POINTS - 1 from the latest back, and the first
        stride = -(-total // (MAX_POINTS - 1))
        ranked = ranked.filter(Q(rank=total) | Q(rank__in=range(1, total + 1, stride)))
    return list(ranked.order_by("taken_at", "id"))


def chart(goal: Goal, points) -> dict:
    """SVG coordinates for the snapshots and the target line, from the goal's start to its
    deadline on x, zero to the larger of target and values on y. Pure: a test can drive it."""
    span = (goal.deadline_at - goal.starts_at).total_seconds() or 1
    top = max([goal.target, *(p.value for p in points)]) or 1

    def xy(when, value):
        x = PAD + (CHART_W - 2 * PAD) * min(
            max((when - goal.starts_at).total_seconds() / span, 0), 1
        )
        y = CHART_H - PAD - (CHART_H - 2 * PAD) * (value / top)
        return round(x, 1), round(y, 1)

    line = " ".join(f"{x},{y}" for x, y in (xy(p.taken_at, p.value) for p in points))
    _, target_y = xy(goal.starts_at, goal.target)
    return {"width": CHART_W, "height": CHART_H, "line": line, "target_y": target_y, "top": top}
