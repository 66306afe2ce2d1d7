"""Age-bounded recovery: an old interrupted post_tweet is not published after downtime."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from console.models import AgentToken
from missions.models import Publication, Step
from missions.outbox import deliver_pending
from missions.staleness import forget_policy
from missions.step_actions import retry_step
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event, Runtime
from opscore.policies import PolicyError
from tests.console.test_agent_api import call
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_policy():
    forget_policy()
    yield
    forget_policy()


def test_yesterdays_post_is_not_published_today_until_a_human_says_so():
    step = make_step("post_tweet", payload={"text": "Happy Monday!"})
    Step.objects.filter(pk=step.pk).update(
        created_at=Now() - timedelta(days=1), run_after=Now() - timedelta(days=1)
    )

    handle_one_step("w1")
    deliver_pending()

    step.refresh_from_db()
    assert (step.status, step.blocked_code) == ("blocked", "stale_after_downtime")
    assert "max age of 360 min" in step.blocked_reason
    assert not Publication.objects.exists()
    assert Event.objects.filter(kind="step.blocked", step=step).exists()
    retry_step(step, actor="operator:ann")  # a human decides it still makes sense
    handle_one_step("w1")
    deliver_pending()
    assert Publication.objects.get().body == "Happy Monday!"


def test_recent_work_and_kinds_without_a_limit_run_as_usual():
    fresh = make_step("post_tweet", payload={"text": "now"})
    old_noop = make_step("noop")
    Step.objects.filter(pk=old_noop.pk).update(created_at=Now() - timedelta(days=3))

    while handle_one_step("w1"):
        pass

    assert Step.objects.get(pk=fresh.pk).status == "succeeded"
    assert Step.objects.get(pk=old_noop.pk).status == "succeeded"


def test_the_limits_are_policy_and_refuse_unknown_kinds():
    set_policy("recovery_policy", {"max_age_minutes": {"noop": 1}}, actor="t", reason="r")
    forget_policy()
    old = make_step("noop")
    five_minutes_ago = Now() - timedelta(minutes=5)
    Step.objects.filter(pk=old.pk).update(created_at=five_minutes_ago, run_after=five_minutes_ago)

    handle_one_step("w1")

    assert Step.objects.get(pk=old.pk).blocked_code == "stale_after_downtime"
    with pytest.raises(PolicyError, match="unknown step kinds"):
        set_policy("recovery_policy", {"max_age_minutes": {"tweeet": 5}}, actor="t", reason="r")


def test_an_outside_runtime_is_not_handed_yesterdays_deploy_either(client):
    """Its claim (the agent bus) checked the approval binding only: a deploy due two days ago
    went to the runtime to run, where Opscore's own worker would have asked a human first."""
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=9)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    step = make_step("deploy", agent=outside)
    two_days_ago = Now() - timedelta(days=2)
    Step.objects.filter(pk=step.pk).update(created_at=two_days_ago, run_after=two_days_ago)

    jobs = call(client, secret, "claim-jobs")["jobs"]

    step.refresh_from_db()
    assert jobs == []
    assert (step.status, step.blocked_code) == ("blocked", "stale_after_downtime")
