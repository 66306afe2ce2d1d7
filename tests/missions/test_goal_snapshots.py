"""The heartbeat samples at most SNAPSHOT_BATCH goals a beat: one that leaves goals due for
the next says how many, as every capped loop does."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.goals import SNAPSHOT_BATCH, snapshot_goals
from missions.models import Goal

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
TERMS = {"title": "Ship", "metric": "missions_succeeded", "target": 3}


def test_a_beat_that_leaves_goals_due_says_how_many(agent, clock):
    clock.freeze(T0)
    deadline = T0 + timedelta(days=30)
    Goal.objects.bulk_create(
        Goal(**TERMS, owner=agent, deadline_at=deadline, created_by="test")
        for _ in range(SNAPSHOT_BATCH + 2)
    )

    assert snapshot_goals() == {"snapshots": SNAPSHOT_BATCH, "left": 2}
    assert snapshot_goals() == {"snapshots": 2}
