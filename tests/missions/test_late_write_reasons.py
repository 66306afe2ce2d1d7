"""A late write is always refused, and its refusal says what happened: the step had already
finished, or the lease was lost, taken by another holder, or the step cancelled under it."""

import uuid
from datetime import timedelta

import pytest
from django.db.models.functions import Now

from missions.execution import claim_next_step, record_outcome
from missions.executors import Failed, Succeeded
from missions.models import Step
from missions.recovery import reap_expired_leases
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def refusal() -> Event:
    return Event.objects.get(kind="step.late_write_refused")


def test_it_says_a_second_completion_found_the_step_already_finished():
    step = make_step()
    claimed = claim_next_step("w1")
    assert record_outcome(step.id, claimed.lease_token, Succeeded({"first": True}))

    assert not record_outcome(step.id, claimed.lease_token, Succeeded({"second": True}))

    assert refusal().title == f"S{step.id} already succeeded: a second completion was refused"
    assert "lost" not in refusal().summary and "attempt 1 by w1" in refusal().summary
    assert Step.objects.get(pk=step.pk).result == {"first": True}


def test_it_says_a_completion_from_a_reaped_lease_came_from_a_lost_lease():
    step = make_step("test_effect")
    stalled = claim_next_step("stalled")
    Step.objects.filter(pk=step.pk).update(lease_expires_at=Now() - timedelta(seconds=1))
    reap_expired_leases()

    assert not record_outcome(step.id, stalled.lease_token, Succeeded({}))

    assert refusal().title == f"S{step.id}: a late completion from a lost lease was refused"
    assert "attempt 1 by stalled ended lost" in refusal().summary


def test_it_says_the_step_was_cancelled_under_the_lease():
    step = make_step()
    claimed = claim_next_step("w1")
    Step.objects.filter(pk=step.pk).cancel()

    assert not record_outcome(step.id, claimed.lease_token, Succeeded({}))

    assert refusal().title == (
        f"S{step.id} was cancelled while attempt 1 held its lease: its late completion was refused"
    )


def test_it_says_another_holder_took_the_lease():
    step = make_step()
    claimed = claim_next_step("w1")
    Step.objects.filter(pk=step.pk).update(lease_token=uuid.uuid4())

    assert not record_outcome(step.id, claimed.lease_token, Failed("disk full"))

    assert refusal().title == (
        f"S{step.id}: a late failure from a lease another holder took was refused"
    )
