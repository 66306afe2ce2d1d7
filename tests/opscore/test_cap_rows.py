"""A loop whose backlog outlasts many passes is capped pass after pass, every minute: its
`sweep.capped` row is written when it starts being capped and then at most once an hour a loop,
not once a pass, so the event log and the Stage are not flooded with identical rows."""

from datetime import UTC, datetime, timedelta

import pytest

from opscore.actions import record_cap_hit
from opscore.models import Event

pytestmark = pytest.mark.django_db
NOON = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)


def rows(loop="sweep_a"):
    return list(
        Event.objects.filter(kind="sweep.capped", payload__loop=loop)
        .order_by("id")
        .values_list("payload__waiting", flat=True)
    )


def capped_every_minute(clock, minutes: int, loop="sweep_a", start=NOON) -> None:
    for minute in range(minutes):
        clock.freeze(start + timedelta(minutes=minute))
        record_cap_hit(loop, 10, 100 + minute, actor="system:test")


def test_a_loop_capped_every_minute_writes_one_row_an_hour_not_one_a_pass(clock):
    capped_every_minute(clock, 150)

    assert rows() == [100, 160, 220]  # at 12:00, 13:00 and 14:00, each saying what waited then


def test_each_loop_has_its_own_row(clock):
    capped_every_minute(clock, 3, loop="sweep_a")
    capped_every_minute(clock, 3, loop="sweep_b")

    assert (rows("sweep_a"), rows("sweep_b")) == ([100], [100])


def test_a_loop_capped_again_after_a_quiet_hour_gets_a_row_at_once(clock):
    capped_every_minute(clock, 2)
    capped_every_minute(clock, 1, start=NOON + timedelta(minutes=65))

    assert rows() == [100, 100]
