"""A post blocked at run time because the day's posts were used up: it gives its slot back
while it waits (a new day's quota is not held by yesterday's leftovers), and the sweeper
sends it back on a later day once a slot is free, saying so in an event."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.decisions import DecisionRefused
from missions.models import Step
from missions.outbox import deliver_pending
from missions.recovery import requeue_cleared_blockers
from missions.step_actions import retry_step
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db

# 23:50 on 2 March in New York is 04:50 on 3 March in UTC: both sides of the local midnight
# fall on one UTC day, so a count by the UTC day could not pass these tests.
BEFORE_MIDNIGHT = datetime(2027, 3, 3, 4, 50, tzinfo=UTC)
AFTER_MIDNIGHT = BEFORE_MIDNIGHT + timedelta(minutes=20)


@pytest.fixture
def quota_blocked(settings, clock, agent):
    """One post went out before midnight (limit 1), a second was blocked by the quota."""
    settings.TIME_ZONE = "America/New_York"
    clock.freeze(BEFORE_MIDNIGHT)
    set_policy("x_daily_quota", {"limit": 1}, actor="test")
    make_step("post_tweet", agent=agent, payload={"text": "one"})
    handle_one_step("w1")
    deliver_pending()
    second = make_step("post_tweet", agent=agent, payload={"text": "two"})
    handle_one_step("w1")
    second.refresh_from_db()
    assert (second.status, second.blocked_code) == ("blocked", "quota")
    return second


def test_a_quota_blocked_post_waits_the_same_day(quota_blocked):
    assert requeue_cleared_blockers() == 0

    quota_blocked.refresh_from_db()
    assert quota_blocked.status == "blocked"


def test_a_quota_blocked_post_goes_out_the_next_day_on_its_own(quota_blocked, clock):
    clock.freeze(AFTER_MIDNIGHT)

    assert requeue_cleared_blockers() == 1
    handle_one_step("w1")

    quota_blocked.refresh_from_db()
    assert quota_blocked.status == "succeeded"
    unblocked = Event.objects.get(kind="step.unblocked", step=quota_blocked)
    assert "a slot of today's post_tweet quota is free" in unblocked.title
    assert unblocked.summary == "post_tweet: quota full at run time (1/1)"


def test_a_quota_blocked_post_holds_no_slot_of_the_new_day(quota_blocked, clock, agent):
    clock.freeze(AFTER_MIDNIGHT)

    assert propose(agent, "post_tweet").status != "rejected"
    make_step("post_tweet", agent=agent, payload={"text": "new"})  # the new day's post, let in

    assert requeue_cleared_blockers() == 0  # the new day's one slot went to the new post
    quota_blocked.refresh_from_db()
    assert quota_blocked.status == "blocked"


def test_a_person_sending_a_quota_blocked_post_back_passes_the_gate(quota_blocked, clock, agent):
    """It held no slot while blocked, so a retry takes one, as a failed step's does."""
    clock.freeze(AFTER_MIDNIGHT)
    make_step("post_tweet", agent=agent, payload={"text": "new"})  # the new day's one slot

    with pytest.raises(DecisionRefused, match="quota full"):
        retry_step(quota_blocked, actor="operator:ann")

    assert Step.objects.get(pk=quota_blocked.pk).status == "blocked"
