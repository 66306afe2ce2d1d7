"""The admin's goal form posts every term it showed: saved after someone else revised the goal,
it put back what that revision changed. A form opened on an older version saves nothing and
says who revised it since."""

import re

import pytest

from missions.goals import add_goal, revise_goal
from missions.models import Goal

pytestmark = pytest.mark.django_db
TERMS = {"title": "Ship", "metric": "missions_succeeded", "target": 3, "why": ""}


def opened_form(admin_client, goal) -> dict:
    """What the change page's form would post back untouched."""
    page = admin_client.get(f"/admin/missions/goal/{goal.id}/change/").content.decode()
    seen = re.search(r'name="seen_version" value="(\d+)"', page)
    terms = TERMS | {"owner": goal.owner_id, "scope": goal.scope, "direction": goal.direction}
    return terms | {
        "deadline": goal.deadline_at.isoformat(),
        "seen_version": seen[1] if seen else "",
    }


def test_a_form_opened_before_another_revision_saves_nothing_and_says_so(admin_client, agent):
    goal = add_goal(TERMS | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")
    form = opened_form(admin_client, goal)
    revise_goal(goal.id, {"target": 20}, actor="operator:cli", reason="more demand")

    answer = admin_client.post(
        f"/admin/missions/goal/{goal.id}/change/",
        form | {"title": "Ship more", "reason": "clearer title"},
    )

    goal.refresh_from_db()
    assert (goal.version, goal.title, goal.target) == (2, "Ship", 20.0)
    assert answer.status_code == 200
    said = f"G{goal.id} was revised since this form was opened (v1 → v2 by operator:cli"
    assert said in answer.content.decode()


def test_a_form_opened_on_the_version_in_force_revises_it(admin_client, agent):
    goal = add_goal(TERMS | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")
    revise_goal(goal.id, {"target": 20}, actor="operator:cli", reason="more demand")
    form = opened_form(admin_client, Goal.objects.get(pk=goal.pk))

    admin_client.post(
        f"/admin/missions/goal/{goal.id}/change/",
        form | {"target": 20, "title": "Ship more", "reason": "clearer title"},
    )

    goal.refresh_from_db()
    assert (goal.version, goal.title, goal.target) == (3, "Ship more", 20.0)
