"""The heartbeat samples goals whose value can still move: one past its deadline gets one last
point (its value counted to the deadline holds from then on), not a row an hour for as long as
nobody closes it; and a beat that leaves goals for the next says how many, in a row too."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.goals import SNAPSHOT_BATCH, add_goal, snapshot_goals
from missions.models import Goal
from opscore.models import Event

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
TERMS = {"title": "Ship", "metric": "missions_succeeded", "target": 3}


def test_a_goal_past_its_deadline_gets_one_last_point(agent, clock):
    clock.freeze(T0)
    goal = add_goal(TERMS | {"owner": agent.slug, "deadline": "2d"}, actor="operator:test")
    assert snapshot_goals() == {"snapshots": 1}

    clock.freeze(T0 + timedelta(days=3))
    assert snapshot_goals() == {"snapshots": 1}
    for hours in (2, 30, 24 * 40):
        clock.freeze(T0 + timedelta(days=3, hours=hours))
        assert snapshot_goals() == {"snapshots": 0}

    assert goal.snapshots.count() == 2


def test_a_beat_that_leaves_goals_due_says_how_many_in_a_row(agent, clock):
    clock.freeze(T0)
    deadline = T0 + timedelta(days=30)
    Goal.objects.bulk_create(
        Goal(**TERMS, owner=agent, deadline_at=deadline, created_by="test")
        for _ in range(SNAPSHOT_BATCH + 2)
    )

    assert snapshot_goals() == {"snapshots": SNAPSHOT_BATCH, "left": 2}
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "snapshot_goals", "limit": SNAPSHOT_BATCH, "waiting": 2}
    assert snapshot_goals() == {"snapshots": 2}
