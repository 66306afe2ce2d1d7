"""A config change is applied only while its worker still holds the step's lease: a worker
that lost it (the mission cancelled under it, the lease reaped) changes no policy, and its
late answer is refused like any other."""

import pytest

from missions.execution import claim_next_step
from missions.models import Step
from missions.step_actions import cancel_mission, retry_step
from missions.worker import handle_one_step, work_through
from opscore.actions import set_policy
from opscore.models import Event, Policy, PolicyVersion
from tests.factories import ran_then_lost
from tests.missions.test_config_changes import approve, change

pytestmark = pytest.mark.django_db


def test_a_change_cancelled_while_its_worker_held_it_changes_no_policy(admin_client, agent):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    proposal = change(agent, {"limit": 9})
    approve(admin_client, proposal)
    claimed = claim_next_step("w1")
    cancel_mission(claimed.mission, actor="operator:bea")

    work_through(claimed, "w1", keep_going=lambda: False)

    assert Policy.objects.value("x_daily_quota").limit == 5
    assert Step.objects.get(pk=claimed.pk).status == "cancelled"
    refused = Event.objects.get(kind="step.late_write_refused")
    assert refused.title.startswith(f"S{claimed.id} was cancelled while attempt 1 held its lease")
    assert not Event.objects.filter(kind="policy.changed", actor=f"step:{claimed.id}").exists()


def test_a_retry_of_a_change_whose_worker_died_after_applying_it_succeeds(admin_client, agent):
    """The worker set the policy, then died before its answer was kept: the step waits for a
    person (config.change is not idempotent), who retries it. The diff in force is the step's
    own: the retry says so, not 'at version 2, not 1 as approved: propose the diff again'."""
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    approve(admin_client, change(agent, {"limit": 9}))
    claimed = ran_then_lost()  # applied; the answer never recorded
    assert Step.objects.get(pk=claimed.pk).blocked_code == "needs_human"

    retry_step(claimed, actor="operator:bea")
    assert handle_one_step("w2")

    step = Step.objects.get(pk=claimed.pk)
    assert step.status == "succeeded" and step.result["version"] == 2
    assert Policy.objects.value("x_daily_quota").limit == 9
    assert PolicyVersion.objects.filter(policy_id="x_daily_quota").count() == 2
    assert not Event.objects.filter(kind="config.change_refused").exists()
