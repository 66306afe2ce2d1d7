"""The oldest queued step's age says how long due work has waited for a worker: a step delayed
into the future is not waiting, and a delayed one has waited only since it fell due."""

from datetime import UTC, datetime, timedelta

import pytest

from console.status import system_status
from tests.factories import make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def oldest() -> float | None:
    return system_status()["queue"]["oldest_queued_age_seconds"]


def test_a_step_delayed_into_the_future_is_not_an_old_queued_step(clock):
    clock.freeze(START)
    make_step("noop", run_after=START + timedelta(hours=2))
    clock.freeze(START + timedelta(hours=1))

    assert oldest() is None


def test_a_delayed_step_has_waited_since_it_fell_due(clock):
    clock.freeze(START)
    make_step("noop", run_after=START + timedelta(minutes=10))
    clock.freeze(START + timedelta(hours=1))

    assert oldest() == 50 * 60


def test_metrics_age_the_queue_as_status_does(clock):
    from console.health import health_snapshot

    clock.freeze(START)
    make_step("noop", run_after=START + timedelta(hours=2))
    make_step("noop", run_after=START + timedelta(minutes=10))
    clock.freeze(START + timedelta(hours=1))

    assert health_snapshot()["oldest_queued_age_seconds"] == oldest() == 50 * 60
