"""A mission's time axis: a mission done in a fifth of a second still gets five ticks spread over
the whole axis (they used to bunch into a fifth of it and print over each other), read as
offsets from its start."""

import itertools
from datetime import UTC, datetime, timedelta

from console.stage.timeline import LEFT, WIDTH, ticks_of


def scale(start, seconds):
    return lambda moment: LEFT + (moment - start).total_seconds() / seconds * (WIDTH - LEFT - 10)


def test_it_spreads_a_sub_second_missions_ticks_over_the_axis_as_offsets():
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    ticks = ticks_of(start, 1.0, scale(start, 1.0))

    xs = [t["x"] for t in ticks]
    assert xs[0] == LEFT and xs[-1] == WIDTH - 10
    assert min(b - a for a, b in itertools.pairwise(xs)) > 150
    assert [t["offset"] for t in ticks] == ["", "+0.25 s", "+0.5 s", "+0.75 s", "+1 s"]


def test_it_reads_clock_times_for_a_mission_of_minutes():
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    ticks = ticks_of(start, 600.0, scale(start, 600.0))

    assert [t["offset"] for t in ticks] == [""] * 5
    assert ticks[-1]["label"] == start + timedelta(minutes=10)
