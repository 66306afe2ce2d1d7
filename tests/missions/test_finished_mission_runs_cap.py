"""Runs waiting on the mission they asked for close when it ends, at most the cap a pass; a
pass cut short leaves a row saying how many runs still wait to be closed."""

from datetime import timedelta

import pytest

from missions.models import Mission
from missions.orders import close_finished_missions
from opscore.db import db_now
from opscore.models import Event, StandingOrder, StandingOrderRun
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def runs_of_ended_missions(count: int) -> None:
    step = make_step()
    order = StandingOrder.objects.create(
        agent=step.agent, name="scan", cron="*/5 * * * *", handler="gap_check"
    )
    for n in range(count):
        mission = make_step(agent=step.agent).mission
        Mission.objects.filter(pk=mission.pk).update(status="succeeded")
        StandingOrderRun.objects.create(
            order=order,
            scheduled_for=db_now() - timedelta(minutes=5 * n),
            status="started",
            started_at=db_now(),
            mission=mission,
        )


def test_it_records_a_pass_cut_short_by_its_cap():
    runs_of_ended_missions(3)

    assert close_finished_missions(limit=2) == 2

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "close_finished_missions", "limit": 2, "waiting": 1}
    assert StandingOrderRun.objects.filter(status="started").count() == 1


def test_a_pass_that_closes_every_run_records_no_cap():
    runs_of_ended_missions(2)

    assert close_finished_missions(limit=2) == 2
    assert not Event.objects.filter(kind="sweep.capped").exists()
