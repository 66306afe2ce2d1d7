"""A goal counts what happened: an item published and later deleted on its channel was
still published, so an allowance of posts stays used and a line of them never falls; a
mission that ran past its deadline, its steps failed by the sweeper, failed."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.goals import add_goal, goal_state
from missions.mission_control import set_mission_deadline, time_out_missions
from tests.factories import make_post, make_step

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def test_a_post_deleted_on_its_channel_still_counts_as_published(agent, clock):
    clock.freeze(T0)
    terms = {"title": "Post at most one a week", "metric": "publications", "target": 1}
    terms |= {"direction": "at_most", "owner": agent.slug, "deadline": "7d"}
    goal = add_goal(terms, actor="operator:test")
    make_post(agent, "first")
    second = make_post(agent, "second")

    second.mark_deleted()

    state = goal_state(goal)
    assert (state["value"], state["verdict"]) == (2.0, "over the limit")


def test_a_mission_that_timed_out_counts_as_failed(agent, clock):
    clock.freeze(T0)
    terms = {"title": "No failed missions", "metric": "missions_failed", "target": 0}
    terms |= {"direction": "at_most", "owner": agent.slug, "deadline": "7d"}
    goal = add_goal(terms, actor="operator:test")
    step = make_step("noop", agent=agent)
    set_mission_deadline(step.mission_id, actor="operator:ann", deadline="2h", reason="launch")

    clock.freeze(T0 + timedelta(hours=2))
    assert time_out_missions() == 1

    state = goal_state(goal)
    assert (state["value"], state["verdict"]) == (1.0, "over the limit")
