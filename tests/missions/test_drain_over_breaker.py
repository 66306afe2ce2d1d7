"""A drain of a step kind the breaker had already switched off: lifting the drain (or its
expiry) switched the kind back on, so a kind failing for good ran again with nobody having
reset its breaker. A lifted drain restores what was there, as a lifted disable-agent does."""

import pytest
from django.db.models.functions import Now

from missions.models import Step
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Override, Policy
from opscore.overrides import apply_override, lift_expired_overrides, lift_override
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def noop_on() -> bool:
    return Policy.objects.value("worker_switches").is_enabled("noop")


def test_lifting_a_drain_leaves_a_tripped_breaker_off(agent):
    step = make_step("noop", agent=agent)
    set_policy("worker_switches", {"kinds": {"noop": False}}, actor="system:breaker")
    drain = apply_override("drain", "kind:noop", reason="vendor down", actor="operator:ann")

    lift_override(drain.id, actor="operator:ann", reason="vendor back")

    assert not noop_on()
    assert not handle_one_step("w1") and Step.objects.get(pk=step.pk).status == "queued"
    apply_override("reset-breaker", "noop", reason="fixed", actor="operator:ann")
    assert noop_on()


def test_an_expired_drain_leaves_a_tripped_breaker_off(agent):
    set_policy("worker_switches", {"kinds": {"noop": False}}, actor="system:breaker")
    drain = apply_override("drain", "kind:noop", reason="r", actor="operator:ann", expires="5m")
    Override.objects.filter(pk=drain.pk).update(expires_at=Now())

    assert lift_expired_overrides() == {"lifted": [drain.id]}
    assert not noop_on()


def test_lifting_a_drain_of_a_running_kind_switches_it_back_on(agent):
    drain = apply_override("drain", "kind:noop", reason="r", actor="operator:ann")
    assert not noop_on()

    lift_override(drain.id, actor="operator:ann", reason="done")

    assert noop_on()
