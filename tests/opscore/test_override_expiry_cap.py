"""Expired overrides lift at most the sweep's cap a pass, and a pass cut short says how many
still hold past their expiry: in its counts and in a row of its own."""

import pytest
from django.db.models.functions import Now

from opscore.models import Event, Override
from opscore.overrides import apply_override, lift_expired_overrides

pytestmark = pytest.mark.django_db


def expired_pauses(*lanes):
    for lane in lanes:
        apply_override("pause-lane", lane, reason="quiet", actor="operator:ann", expires="5m")
    Override.objects.update(expires_at=Now())


def test_it_records_a_pass_cut_short_by_its_cap():
    expired_pauses("triggers", "reactions", "memory")

    counts = lift_expired_overrides(limit=2)

    assert (len(counts["lifted"]), counts["deferred"]) == (2, 1)
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "lift_expired_overrides", "limit": 2, "waiting": 1}


def test_a_pass_that_lifts_every_expired_override_records_no_cap():
    expired_pauses("triggers", "reactions")

    assert len(lift_expired_overrides(limit=2)["lifted"]) == 2
    assert not Event.objects.filter(kind="sweep.capped").exists()
