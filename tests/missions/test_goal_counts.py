"""A goal counts what happened: an item published and later deleted on its channel was
still published, so an allowance of posts stays used and a line of them never falls."""

from datetime import UTC, datetime

import pytest

from missions.goals import add_goal, goal_state
from tests.factories import make_post

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
