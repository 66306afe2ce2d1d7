"""A goal on `useful_feedback` counts outputs operators rated useful: rating the same output
again (a second click, a retried request, another operator agreeing) is not another output."""

import pytest

from missions.feedback import record_feedback
from missions.goals import add_goal, current_value
from missions.models import Artifact
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def rate(**output):
    record_feedback(rating="useful", reason="caught the full disk", actor="api:ana", **output)


def test_each_output_counts_once_however_often_it_is_rated_useful(agent):
    goal = add_goal(
        {"title": "Be useful", "metric": "useful_feedback", "target": 3}
        | {"owner": agent.slug, "deadline": "30d"},
        actor="operator:test",
    )
    step = make_step("analyze", agent=agent, status="succeeded")
    report = Artifact.objects.create(step=step, kind="analysis", title="Disk report", body="ok")

    for _ in range(3):
        rate(mission=step.mission_id)
    assert current_value(goal) == 1

    rate(artifact=report.id)
    rate(artifact=report.id)
    assert current_value(goal) == 2  # the mission and its report: two outputs
