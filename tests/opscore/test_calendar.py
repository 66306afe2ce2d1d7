"""Schedules and windows hold on every date: the 1st of a month around a monthly slot, a leap
day, the last minute of a year, and both DST changes in a zone that has them — with Python's
clock and the database's pinned together (tests/clock.py)."""

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from console.phases import orders_accounted_for
from opscore.actions import record_event
from opscore.db import db_now, start_of_today
from opscore.models import Event, RunStatus, StandingOrder
from opscore.schedule_math import latest_slot, slots_between
from opscore.standing_orders import check_gaps, fire
from tests.clock import children_follow
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def order(cron, age, tz="UTC", handler="lease_reaper", phase=1):
    made = StandingOrder.objects.create(
        agent=AgentFactory(slug="auditor"),
        name="the-order",
        cron=cron,
        timezone=tz,
        handler=handler,
        phase=phase,
    )
    StandingOrder.objects.filter(pk=made.pk).update(created_at=db_now() - age)
    made.refresh_from_db()
    return made


def test_the_pinned_clock_moves_python_and_the_database_together(clock):
    clock.freeze(at("2028-02-29T23:59:59+00:00"))

    assert db_now() == at("2028-02-29T23:59:59+00:00")
    assert timezone.now() == at("2028-02-29T23:59:59+00:00")


def test_a_process_started_in_a_moved_run_reads_the_moved_clock(monkeypatch):
    """OPS_TEST_INSTANT moves the clocks of the workers and clusters a test spawns as well: a
    django-q2 cluster on the real clock never dequeued a task queued at the moved instant."""
    for name in ("PYTHONPATH", "OPS_TEST_CLOCK_SHIFT"):
        monkeypatch.delenv(name, raising=False)  # restored when the test ends
    year = timedelta(days=365).total_seconds()

    children_follow(str(year))
    said = subprocess.run(
        [sys.executable, "-c", "import sys, time; print(time.time(), 'pytest' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )

    when, takes_itself_for_a_test = said.stdout.split()
    hatch = time_machine.escape_hatch
    ahead = float(when) - (hatch.time.time() if hatch.is_travelling() else time.time())
    assert year - 60 < ahead < year + 60, said.stderr
    assert takes_itself_for_a_test == "False"  # opscore.settings.TESTING: it runs as for real


def test_a_travelling_clock_keeps_ticking_from_where_it_was_put(clock):
    clock.travel(at("2027-12-31T23:59:00+00:00"))

    first, second = db_now(), db_now()

    assert at("2027-12-31T23:59:00+00:00") <= first <= second
    assert second - first < timedelta(minutes=1)


@pytest.mark.parametrize(
    "instant, owes",
    [
        ("2027-01-01T03:50:00+00:00", False),  # created Dec 30: the Dec 1 slot predates it
        ("2027-01-01T04:00:30+00:00", True),  # Jan 1 04:00 is due and runs on time
        ("2027-01-17T12:00:00+00:00", False),  # created Jan 15: nothing owed till Feb 1
    ],
)
def test_a_monthly_order_proves_its_slot_or_owes_none_yet_on_every_day(clock, instant, owes):
    clock.freeze(at(instant))
    drill = order("0 4 1 * *", age=timedelta(days=2))

    run = fire(drill)
    check_gaps()

    assert (run is not None) is owes
    criterion = orders_accounted_for(phase=1)
    assert criterion.passed, criterion.detail
    assert ("not due yet" in criterion.detail) is not owes


def test_a_monthly_order_that_owed_a_slot_and_did_not_run_fails_the_gate(clock):
    clock.freeze(at("2027-01-01T04:10:00+00:00"))
    order("0 4 1 * *", age=timedelta(days=2))
    clock.freeze(at("2027-01-01T05:00:00+00:00"))

    check_gaps()

    criterion = orders_accounted_for(phase=1)
    assert not criterion.passed
    assert "the-order: missed" in criterion.detail


@pytest.mark.parametrize(
    "instant",
    ["2028-02-29T12:07:00+00:00", "2027-12-31T23:59:00+00:00", "2028-01-01T00:07:00+00:00"],
)
def test_downtime_across_a_leap_day_or_a_new_year_is_missed_once_per_slot(clock, instant):
    clock.freeze(at(instant))
    hourly = order("0 * * * *", age=timedelta(hours=5))

    check_gaps()

    assert hourly.runs.filter(status=RunStatus.MISSED).count() == 5


def test_a_daily_job_in_the_hour_that_repeats_runs_once_when_clocks_go_back(clock):
    # New York, 2027-11-07: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    clock.freeze(at("2027-11-07T05:30:30+00:00"))
    daily = order("30 1 * * *", age=timedelta(days=3), tz="America/New_York")
    assert fire(daily).status == RunStatus.NO_WORK

    clock.freeze(at("2027-11-07T06:30:30+00:00"))
    assert fire(daily).scheduled_for == at("2027-11-07T05:30:00+00:00")
    clock.freeze(at("2027-11-07T12:00:00+00:00"))
    check_gaps()

    assert daily.runs.count() == 1


def test_an_hourly_job_keeps_its_interval_through_both_dst_changes():
    york = "America/New_York"
    back = slots_between("0 * * * *", york, at("2027-11-07T04:30Z"), at("2027-11-07T07:30Z"))
    forward = slots_between("0 * * * *", york, at("2027-03-14T05:30Z"), at("2027-03-14T08:30Z"))

    assert back == [at("2027-11-07T05:00Z"), at("2027-11-07T06:00Z"), at("2027-11-07T07:00Z")]
    assert forward == [at("2027-03-14T06:00Z"), at("2027-03-14T07:00Z"), at("2027-03-14T08:00Z")]


def test_a_daily_job_in_the_skipped_hour_runs_right_after_clocks_go_forward(clock):
    # New York, 2027-03-14: 02:00-03:00 does not exist; a 02:30 job runs at 03:00 EDT (07:00Z).
    clock.freeze(at("2027-03-14T07:00:30+00:00"))
    daily = order("30 2 * * *", age=timedelta(days=3), tz="America/New_York")

    run = fire(daily)

    assert run.scheduled_for == at("2027-03-14T07:00:00+00:00")
    assert latest_slot(daily.cron, daily.timezone, db_now()) == run.scheduled_for


@pytest.mark.parametrize(
    "zone, instant",
    [
        ("Pacific/Kiritimati", "2027-01-01T10:00:00+14:00"),
        ("America/New_York", "2027-04-01T09:00:00-04:00"),
    ],
)
def test_today_starts_at_midnight_in_ops_time_zone(clock, settings, zone, instant):
    """At 10:00 on New Year's Day in Kiritimati, today began ten hours ago, not at 00:00 UTC
    (fourteen hours ahead); in New York at 09:00 on 1 April, 31 March 21:00 is yesterday."""
    settings.TIME_ZONE = zone
    clock.freeze(at(instant) - timedelta(hours=12))
    record_event("test.yesterday", "twelve hours ago")
    clock.freeze(at(instant))
    record_event("test.today", "now")

    counted = Event.objects.filter(created_at__gte=start_of_today(), kind__startswith="test.")

    assert list(counted.values_list("kind", flat=True)) == ["test.today"]
