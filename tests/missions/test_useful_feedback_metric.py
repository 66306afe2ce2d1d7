"""A goal on `useful_feedback` counts outputs operators rated useful: rating the same output
again (a second click, a retried request, another operator agreeing) is not another output,
and an operator who changed their mind counts as they now think (as the memory lane's tally
does)."""

import pytest

from missions.feedback import record_feedback
from missions.goals import add_goal, current_value
from missions.models import Artifact
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def be_useful(agent, target: int):
    terms = {"title": "Be useful", "metric": "useful_feedback", "target": target}
    return add_goal(terms | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")


def rate(rating="useful", actor="api:ana", **output):
    record_feedback(rating=rating, reason="caught the full disk", actor=actor, **output)


def test_each_output_counts_once_however_often_it_is_rated_useful(agent):
    goal = be_useful(agent, target=3)
    step = make_step("analyze", agent=agent, status="succeeded")
    report = Artifact.objects.create(step=step, kind="analysis", title="Disk report", body="ok")

    for _ in range(3):
        rate(mission=step.mission_id)
    assert current_value(goal) == 1

    rate(artifact=report.id)
    rate(artifact=report.id)
    assert current_value(goal) == 2  # the mission and its report: two outputs


def test_an_output_its_rater_now_finds_not_useful_no_longer_counts(agent):
    goal = be_useful(agent, target=2)
    first = make_step("analyze", agent=agent, status="succeeded")
    second = make_step("analyze", agent=agent, status="succeeded")
    rate(mission=first.mission_id)
    rate(mission=second.mission_id)
    rate(mission=second.mission_id, actor="api:bo")

    rate("not_useful", mission=first.mission_id)  # ana looked again
    rate("not_useful", mission=second.mission_id)  # bo still finds it useful

    assert current_value(goal) == 1
