"""A goal due on a day is due that day wherever it is read: the Stage showed its deadline in
OPS_TIME_ZONE while `goal add|list`, the daily digest, the intake's refusal, a conversion's
note and the owner's initiative prompt printed its UTC date, a day later west of Greenwich."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from console.order_handlers import goal_lines
from memory.initiative import goal_line
from missions.goals import add_goal, goal_state
from missions.models import Goal
from missions.schemas import ProposalInvalid
from tests.factories import propose

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def due_in_new_york(agent, clock, settings):
    settings.TIME_ZONE = "America/New_York"
    clock.freeze(T0)
    terms = {"title": "Spring", "metric": "missions_succeeded", "target": 2, "scope": "goal"}
    return add_goal(terms | {"owner": agent.slug, "deadline": "2027-03-31"}, actor="op:test")


def test_every_interface_says_the_day_it_was_given(client, due_in_new_york):
    goal, listed = due_in_new_york, io.StringIO()
    call_command("goal", "list", stdout=listed)

    assert "due 2027-03-31" in client.get("/stage/goals").content.decode()
    assert "due 2027-03-31" in listed.getvalue()
    assert "due 2027-03-31" in "\n".join(goal_lines())
    assert "by 2027-03-31" in goal_line(goal)
    assert goal_state(goal)["due"] == "2027-03-31"


def test_work_refused_after_the_deadline_names_the_day_it_was_given(agent, clock, due_in_new_york):
    clock.freeze(Goal.objects.get().deadline_at + timedelta(seconds=1))

    with pytest.raises(ProposalInvalid) as refused:
        propose(agent, "noop", goal=due_in_new_york.id)

    assert "deadline passed on 2027-03-31" in str(refused.value)
