"""The gap check goes on from where it last looked (its cursor on the order), so a downtime
longer than the day a new order is looked back over still leaves a row for every slot; at most
its cap of slots an order a call, a call cut short says how many wait in a row of its own, and
the next call takes the rest."""

from datetime import UTC, datetime, timedelta

import pytest

from opscore.db import db_now
from opscore.models import Event, RunStatus, StandingOrder
from opscore.standing_orders import check_gaps
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
NOON = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)


def hourly_order(clock) -> StandingOrder:
    """An hourly order the gap check has looked at once, at noon, before three days down."""
    clock.freeze(NOON)
    made = StandingOrder.objects.create(
        agent=AgentFactory(slug="auditor"), name="hourly", cron="0 * * * *"
    )
    StandingOrder.objects.filter(pk=made.pk).update(created_at=db_now() - timedelta(minutes=30))
    check_gaps()
    clock.freeze(NOON + timedelta(days=3, minutes=30))  # back after three days down
    return made


def missed(made: StandingOrder) -> int:
    return made.runs.filter(status=RunStatus.MISSED).count()


def test_a_downtime_longer_than_a_day_leaves_a_row_for_every_slot(clock):
    made = hourly_order(clock)

    assert check_gaps()["missed"] == 73
    assert missed(made) == 73  # noon on the first day (then in its grace) to noon on the fourth


def test_a_call_cut_short_by_its_cap_leaves_a_row_and_the_next_goes_on(clock):
    made = hourly_order(clock)

    assert [check_gaps(limit=30)["missed"] for _ in range(4)] == [30, 30, 13, 0]

    assert missed(made) == 73
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "check_gaps:auditor/hourly", "limit": 30, "waiting": 43}


def test_an_order_enabled_again_is_not_owed_its_whole_time_off(clock):
    made = hourly_order(clock)
    StandingOrder.objects.filter(pk=made.pk).update(enabled=False)
    check_gaps()
    StandingOrder.objects.filter(pk=made.pk).update(enabled=True)

    assert check_gaps()["missed"] == 24  # looked back over as a new order is, not 3 days
