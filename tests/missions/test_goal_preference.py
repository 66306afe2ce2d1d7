"""The gates can prefer work that serves an active goal: a policy, off by default. On, the last
slots of each quota are kept for goal work, and every intake decision records what it weighed."""

import pytest

from missions.goals import add_goal, close_goal
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def goal(agent):
    terms = {"title": "More drafts", "metric": "missions_succeeded", "target": 5}
    return add_goal(terms | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")


def prefer_goals(reserved=1):
    set_policy("goal_preference", {"enabled": True, "reserved_slots": reserved}, actor="t")


def test_off_by_default_every_slot_is_open_to_any_work(agent, goal):
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 2}, actor="t")

    first, second = propose(agent, "write_content"), propose(agent, "write_content")

    assert (first.status, second.status) == ("accepted", "accepted")
    assert second.gate_decision == {}


def test_on_the_last_slot_of_a_quota_is_kept_for_goal_work(agent, goal):
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 2}, actor="t")
    prefer_goals()

    first = propose(agent, "write_content", title="Any draft")
    second = propose(agent, "write_content", title="Another draft")
    served = propose(agent, "write_content", title="Goal draft", goal=goal.id)

    assert first.status == "accepted"
    assert second.status == "rejected"
    assert second.reason == (
        "write_content: the last 1 slot(s) of today's quota are kept for work serving an "
        "active goal (goal_preference)"
    )
    assert served.status == "accepted"
    assert second.gate_decision == {"goal_preference": {"goal": None, "reserved": 1}}
    assert served.gate_decision == {"goal_preference": {"goal": goal.id, "reserved": 0}}
    refused = Event.objects.get(kind="proposal.rejected", proposal=second)
    assert refused.payload["gate_decision"]["goal_preference"]["reserved"] == 1


def test_on_an_agents_daily_limit_keeps_room_for_goal_work(agent, goal):
    agent.daily_proposal_limit = 2
    agent.save()
    prefer_goals()

    assert propose(agent, "noop").status == "accepted"
    refused = propose(agent, "noop")
    assert refused.rejection_code == "daily_limit"
    assert "kept for work serving an active goal" in refused.reason
    assert propose(agent, "noop", goal=goal.id).status == "accepted"


def test_on_with_no_active_goal_nothing_is_held_back(agent, goal):
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="t")
    prefer_goals()
    close_goal(goal.id, actor="operator:test", reason="done")

    admitted = propose(agent, "write_content")

    assert admitted.status == "accepted"
    assert admitted.gate_decision == {"goal_preference": {"goal": None, "reserved": 0}}


def test_a_closed_goal_earns_no_preference_at_approval(agent, goal):
    """Approval re-runs the gates: a goal closed in between no longer holds the slot."""
    from missions.decisions import approve_proposal

    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="t")
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["noop"]}, actor="t")
    prefer_goals()
    waiting = propose(agent, "write_content", goal=goal.id)
    assert waiting.status == "pending"
    add_goal(
        {"title": "Another", "metric": "publications", "target": 1, "owner": agent.slug}
        | {"deadline": "30d"},
        actor="operator:test",
    )
    close_goal(goal.id, actor="operator:test", reason="done early")

    decided = approve_proposal(waiting, actor="operator:test")

    assert decided.status == "rejected"
    assert "kept for work serving an active goal" in decided.reason


def test_a_goal_past_its_deadline_holds_no_slot_and_takes_no_new_work(agent, clock):
    """Counting stopped at its deadline: work named for it now could never count."""
    from datetime import UTC, datetime

    from missions.schemas import ProposalInvalid

    clock.freeze(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    terms = {"title": "Two drafts by Wednesday", "metric": "missions_succeeded", "target": 2}
    overdue = add_goal(terms | {"owner": agent.slug, "deadline": "2d"}, actor="operator:test")
    clock.freeze(datetime(2027, 1, 9, 9, 0, tzinfo=UTC))
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="t")
    prefer_goals()

    assert propose(agent, "write_content", title="Any draft").status == "accepted"
    with pytest.raises(ProposalInvalid, match=f"G{overdue.id}'s deadline passed on 2027-01-06"):
        propose(agent, "noop", goal=overdue.id)


def test_an_approval_records_the_slots_it_kept_and_the_simulator_judges_it_by_them(agent, goal):
    """The approval refused for a slot the goal kept, while the row still said the intake's
    weighing (none kept), and simulating the value in force said 'rejected → accepted'."""
    from missions.decisions import approve_proposal
    from missions.simulation_report import simulate_policy

    content = {"enabled": True, "max_drafts_per_day": 1}
    set_policy("content_policy", content, actor="t")
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["noop"]}, actor="t")
    prefer_goals()
    close_goal(goal.id, actor="operator:test", reason="done")
    waiting = propose(agent, "write_content", title="Any draft")
    assert waiting.gate_decision == {"goal_preference": {"goal": None, "reserved": 0}}
    add_goal(
        {"title": "Another", "metric": "publications", "target": 1, "owner": agent.slug}
        | {"deadline": "30d"},
        actor="operator:test",
    )

    decided = approve_proposal(waiting, actor="operator:test")

    assert "kept for work serving an active goal" in decided.reason
    weighed = {"goal_preference": {"goal": None, "reserved": 0}}
    weighed["at_approval"] = {"goal_preference": {"goal": None, "reserved": 1}}
    decided.refresh_from_db()
    assert decided.gate_decision == weighed
    refused = Event.objects.get(kind="proposal.rejected", proposal=decided)
    assert refused.payload["gate_decision"] == weighed
    assert simulate_policy("content_policy", content)["proposals"]["transitions"] == {}
