"""The timer that runs the slots a pause held runs at most its cap a call, and a call cut short
(by the cap or by its deadline) leaves a row saying how many held slots still wait."""

import pytest

from opscore.db import db_now
from opscore.models import Event, StandingOrder, StandingOrderRun
from opscore.standing_orders import run_held_orders
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def held_slots(count: int) -> None:
    agent = AgentFactory(slug="devops")
    for n in range(count):
        order = StandingOrder.objects.create(
            agent=agent, name=f"reaper {n}", cron="*/5 * * * *", handler="lease_reaper"
        )
        StandingOrderRun.objects.create(
            order=order,
            scheduled_for=db_now(),
            status="blocked",
            summary="held: lane paused",
            evidence={"held_by_lane": "memory"},
        )


def test_it_records_a_call_cut_short_by_its_cap():
    held_slots(3)

    assert len(run_held_orders(limit=2)["ran"]) == 2

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "run_held_orders", "limit": 2, "waiting": 1}


def test_a_call_that_runs_every_held_slot_records_no_cap():
    held_slots(2)

    assert len(run_held_orders(limit=2)["ran"]) == 2
    assert not Event.objects.filter(kind="sweep.capped").exists()
