"""An override past its expiry that the sweeper has not lifted yet (it runs once a minute) is no
longer in force on any list, yet its switch still holds: applying a new one over it must lift
it first, or the late lift undoes what the new one holds."""

import pytest
from django.db.models.functions import Now

from opscore.models import Event, Override, Policy
from opscore.overrides import apply_override, lift_expired_overrides

pytestmark = pytest.mark.django_db


def override(kind, target, **kw):
    return apply_override(kind, target, reason="testing", actor="operator:test", **kw)


def expire_unlifted(row: Override) -> None:
    Override.objects.filter(pk=row.pk).update(expires_at=Now())


def test_a_new_pause_over_an_expired_unlifted_one_stays_paused_after_the_sweep(agent):
    dropping = override("pause-lane", "memory:drop", expires="5m")
    expire_unlifted(dropping)

    queued = override("pause-lane", "memory")
    lift_expired_overrides()

    switches = Policy.objects.value("lane_switches")
    assert Override.objects.get(pk=queued.pk).status == "active"
    assert not switches.is_running("memory"), "the lane runs while override says it is paused"
    assert Override.objects.get(pk=dropping.pk).status == "expired"
    assert Event.objects.filter(kind="override.expired").count() == 1


def test_the_same_override_again_after_its_expiry_is_applied_not_refused(agent):
    first = override("pause-lane", "roundtable", expires="5m")
    expire_unlifted(first)

    again = override("pause-lane", "roundtable", expires="1h")

    assert again.status == "active" and again.pk != first.pk
    assert Override.objects.get(pk=first.pk).status == "expired"
    assert not Policy.objects.value("lane_switches").is_running("roundtable")
