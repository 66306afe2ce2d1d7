"""The deadline sweep times out at most its cap of missions a pass, and a pass cut short leaves
a row saying how many still wait past their deadline."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from missions.mission_control import time_out_missions
from missions.models import Mission
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def past_deadline(count: int) -> None:
    for _ in range(count):
        mission = make_step().mission
        Mission.objects.filter(pk=mission.pk).update(deadline_at=Now() - timedelta(hours=1))


def test_it_records_a_pass_cut_short_by_its_cap():
    past_deadline(3)

    assert time_out_missions(limit=2) == 2

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "time_out_missions", "limit": 2, "waiting": 1}


def test_a_pass_that_reaches_every_mission_records_no_cap():
    past_deadline(2)

    assert time_out_missions(limit=2) == 2
    assert not Event.objects.filter(kind="sweep.capped").exists()
