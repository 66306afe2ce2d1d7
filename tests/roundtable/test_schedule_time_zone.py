"""The daily cap is counted by the day in OPS_TIME_ZONE, while the 24 slots are UTC hours: the
one kept for the morning standup is kept by the day the standup falls in, wherever that is."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from opscore.actions import set_policy
from opscore.db import db_now
from roundtable.models import Conversation
from roundtable.scheduling import schedule_tick

pytestmark = pytest.mark.django_db


class Lucky(random.Random):
    def random(self):
        return 0.0


def tick_hours(clock, start: datetime, hours: int) -> list[dict]:
    ticks = []
    for hour in range(hours):
        clock.freeze(start + timedelta(hours=hour))
        ticks.append(schedule_tick(db_now(), Lucky(1)))
    return ticks


def test_in_tokyo_the_evening_slots_leave_the_standup_its_place(crew, clock, settings):
    """Tokyo's day begins at 15:00 UTC, so its first slots come before that day's 06:00 UTC
    standup (15:00 in Tokyo): they spent the whole cap and the standup was refused."""
    settings.TIME_ZONE = "Asia/Tokyo"
    set_policy("roundtable_policy", {"enabled": True, "max_daily_conversations": 2}, actor="t")

    ticks = tick_hours(clock, datetime(2026, 11, 22, 15, 0, tzinfo=UTC), 16)

    assert ticks[0]["enqueued"] == 1
    assert ticks[1]["reason"] == "daily cap 2 reached (one is kept for the 06:00 standup)"
    assert ticks[15]["enqueued"] == 1
    assert Conversation.objects.get(slot_hour=6).format == "standup"


def test_in_new_york_the_late_evening_keeps_nothing_for_tomorrows_standup(crew, clock, settings):
    """New York's evening runs past 00:00 UTC; tomorrow's standup is counted on tomorrow's cap,
    so tonight's slots may spend all of tonight's."""
    settings.TIME_ZONE = "America/New_York"
    set_policy("roundtable_policy", {"enabled": True, "max_daily_conversations": 2}, actor="t")

    ticks = tick_hours(clock, datetime(2026, 11, 23, 23, 0, tzinfo=UTC), 2)

    assert [t["enqueued"] for t in ticks] == [1, 1]
