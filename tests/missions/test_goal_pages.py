"""The Stage's goal pages tell the truth over a goal's whole life: the progress line spans
every snapshot from its start, however many the heartbeat has taken."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from missions.goals import add_goal
from missions.models import GoalSnapshot

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
TERMS = {"title": "Ship analyses", "metric": "missions_succeeded", "target": 40, "owner": "devops"}


def polyline(page: str) -> list[tuple[float, float]]:
    points = re.search(r'<polyline class="measured" points="([^"]+)"', page)[1]
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_the_progress_line_starts_at_the_goals_start_after_weeks_of_hourly_snapshots(
    client, agent, clock
):
    clock.freeze(T0)
    goal = add_goal(TERMS | {"deadline": "30d"}, actor="operator:test")
    hours = 24 * 20  # twenty days of the heartbeat's hourly samples
    GoalSnapshot.objects.bulk_create(
        GoalSnapshot(goal=goal, value=h / 12, taken_at=T0 + timedelta(hours=h))
        for h in range(hours)
    )
    clock.freeze(T0 + timedelta(hours=hours))

    line = polyline(client.get(f"/stage/goals/{goal.id}").content.decode())

    first, last = line[0], line[-1]
    assert first[0] == 8.0  # the goal's start, the chart's left edge (its padding)
    assert last[0] == pytest.approx(8 + 584 * (hours - 1) / (24 * 30), abs=0.1)  # the latest
    assert [x for x, _ in line] == sorted(x for x, _ in line)
    assert len(line) <= 200
