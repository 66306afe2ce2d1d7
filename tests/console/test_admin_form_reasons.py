"""A reason typed in an admin form (a goal's revision, a policy's new version, a memory's edit
or a candidate's review notes) is kept and measured as every reason is (opscore.admin_overrides.
ReasonField: clean_reason, at most 500): one of nothing but zero-width or bidi characters is a
missing reason the form says so of. It passed the forms' checks and was then stored as given,
or refused by the action after the form had passed, as a server error."""

import pytest

from missions.goals import add_goal
from missions.models import Goal
from opscore.actions import set_policy
from opscore.models import Policy, PolicyVersion

pytestmark = pytest.mark.django_db
HIDDEN = "\u200b\u202e"


def test_a_goal_revision_with_a_reason_of_hidden_characters_alone_asks_for_one(admin_client, agent):
    terms = {"title": "Ship", "metric": "missions_succeeded", "target": 3, "owner": agent.slug}
    goal = add_goal(terms | {"deadline": "30d"}, actor="operator:test")
    form = terms | {"owner": agent.pk, "scope": "goal", "direction": "at_least", "why": ""}
    form |= {"deadline": "30d", "target": 5, "reason": HIDDEN}

    answer = admin_client.post(f"/admin/missions/goal/{goal.id}/change/", form)

    assert answer.status_code == 200
    assert "a revision needs a reason" in answer.content.decode()
    assert Goal.objects.get(pk=goal.pk).version == 1


def save_policy(admin_client, reason):
    value = '{"per_agent_daily_usd": 2.0, "total_daily_usd": 5.0}'
    form = {"key": "llm_budget", "value": value, "reason": reason}
    return admin_client.post("/admin/opscore/policy/llm_budget/change/", form)


def test_a_policy_version_keeps_its_reason_without_hidden_characters(admin_client):
    set_policy("llm_budget", {"per_agent_daily_usd": 1.0, "total_daily_usd": 5.0}, actor="t")

    refused = save_policy(admin_client, HIDDEN)
    saved = save_policy(admin_client, "more room" + HIDDEN)

    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert saved.status_code == 302
    assert PolicyVersion.objects.get(version=2).reason == "more room"
    assert Policy.objects.get(key="llm_budget").version == 2


def test_a_policy_reason_is_measured_as_kept(admin_client):
    set_policy("llm_budget", {"per_agent_daily_usd": 1.0, "total_daily_usd": 5.0}, actor="t")

    saved = save_policy(admin_client, "r" * 500 + HIDDEN)

    assert saved.status_code == 302
    assert PolicyVersion.objects.get(version=2).reason == "r" * 500
