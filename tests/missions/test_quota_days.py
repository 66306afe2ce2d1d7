"""A day's quota counts the work that runs that day: every step of the kind still waiting to run
(queued, running or blocked, whatever day it was made) and every one that succeeded that day, by
the day in OPS_TIME_ZONE. Counted by the day a step was created, a step made before midnight
that ran after it (retried, requeued, or just still queued) took no slot of the day it ran in."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models.functions import Now

from missions.models import Step
from missions.models.steps import QUOTA_WAIT
from missions.simulation_report import simulate_policy
from missions.step_actions import retry_step
from opscore.actions import set_policy
from opscore.models import Policy
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db

# 23:50 on 2 March in New York is 04:50 on 3 March in UTC: both sides of the local midnight
# fall on one UTC day, so a count by the UTC day could not pass these tests either.
BEFORE_MIDNIGHT = datetime(2027, 3, 3, 4, 50, tzinfo=UTC)
AFTER_MIDNIGHT = BEFORE_MIDNIGHT + timedelta(minutes=20)


@pytest.fixture
def new_york(settings, clock):
    settings.TIME_ZONE = "America/New_York"
    clock.freeze(BEFORE_MIDNIGHT)
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 1}, actor="test")
    return clock


def succeed(step) -> None:
    Step.objects.filter(pk=step.pk).update(status="succeeded", finished_at=Now())


def test_a_step_retried_after_midnight_takes_a_slot_of_the_day_it_runs(agent, new_york):
    failed = make_step("deploy", agent=agent)
    failed.finish("failed", "the target was down")
    new_york.freeze(AFTER_MIDNIGHT)
    assert retry_step(failed, actor="operator:ann").status == "queued"

    second = propose(agent, "deploy")

    assert (second.status, second.reason) == ("rejected", "deploy: quota full (1/1)")


def test_a_step_still_waiting_after_midnight_holds_a_slot_of_the_new_day(agent, new_york):
    make_step("deploy", agent=agent)  # queued before midnight, not run yet
    blocked = make_step("deploy", agent=agent)
    blocked.block("waiting for a person")
    new_york.freeze(AFTER_MIDNIGHT)

    refused = propose(agent, "deploy")

    assert (refused.status, refused.reason) == ("rejected", "deploy: quota full (2/1)")


def test_a_step_made_before_midnight_that_ran_after_it_counts_on_the_day_it_ran(agent, new_york):
    late = make_step("deploy", agent=agent)
    new_york.freeze(AFTER_MIDNIGHT)
    succeed(late)

    assert propose(agent, "deploy").reason == "deploy: quota full (1/1)"


def test_a_step_that_ran_before_midnight_leaves_the_new_day_its_slots(agent, new_york):
    succeed(make_step("deploy", agent=agent))
    make_step("deploy", agent=agent).finish("failed", "the target was down")
    assert propose(agent, "deploy").reason == "deploy: quota full (1/1)"
    new_york.freeze(AFTER_MIDNIGHT)

    assert propose(agent, "deploy").status == "pending"


def test_the_simulator_counts_a_step_waiting_past_midnight_on_the_new_day_too(agent, new_york):
    """The policy simulator judges recorded traffic by the gates' own rule: counting a step on
    the day it was made only, it said the refused draft would have been auto-approved."""
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="test")
    assert propose(agent, "write_content", title="Draft").status == "accepted"
    new_york.freeze(AFTER_MIDNIGHT)
    assert propose(agent, "write_content", title="Refused").reason.endswith("quota full (1/1)")

    value = Policy.objects.value("content_policy").model_dump(mode="json")
    report = simulate_policy("content_policy", value)

    assert report["proposals"]["replayed"] == 2
    assert report["proposals"]["transitions"] == {}


def test_work_an_edited_value_would_have_let_in_is_simulated_as_run_that_day(agent, new_york):
    """What never ran has no day it ended: taken as still waiting, a draft the looser value
    would have admitted before midnight held a slot of the next day too."""
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="test")
    for title in ("Before midnight", "After midnight"):
        assert propose(agent, "write_content").status == "accepted"
        Step.objects.open().update(status="succeeded", finished_at=Now())  # it ran
        assert propose(agent, "write_content", title=title).status == "rejected"
        new_york.freeze(AFTER_MIDNIGHT)

    looser = {"enabled": True, "max_drafts_per_day": 2}
    report = simulate_policy("content_policy", looser)

    assert report["proposals"]["transitions"]["rejected → auto_approved"]["count"] == 2


def test_the_simulator_frees_the_slot_of_a_step_its_quota_blocked_as_the_gates_do(agent, new_york):
    """A step its quota blocked at run time holds no slot (Step.objects.in_todays_quota), so
    the next day's draft got in; the simulator still counted the blocked one on every day and
    said the same value would have refused that draft."""
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="test")
    assert propose(agent, "write_content", title="Blocked").status == "accepted"
    Step.objects.open().update(
        status="blocked", blocked_code=QUOTA_WAIT, blocked_reason="quota full at run time"
    )
    new_york.freeze(AFTER_MIDNIGHT)
    assert propose(agent, "write_content", title="Next day").status == "accepted"

    value = Policy.objects.value("content_policy").model_dump(mode="json")
    report = simulate_policy("content_policy", value)

    assert report["proposals"]["replayed"] == 2
    assert report["proposals"]["transitions"] == {}
