"""A nightly backup of a large database has pg_dump's own deadline, not the cluster's.

The backup runs as a django-q2 task; the cluster kills any task past Q_CLUSTER["timeout"] (600 s)
and the gap check fails any run past its order's `timeout_minutes` (30 by default), while
pg_dump itself may take operations.backups.TIMEOUT_SECONDS (an hour)."""

from datetime import UTC, datetime, timedelta

import pytest
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

from operations.backups import TIMEOUT_SECONDS
from opscore.models import RunStatus, StandingOrder, StandingOrderRun
from opscore.schedules import order_schedule_name, sync_order_schedules
from opscore.standing_orders import HANDLERS, check_gaps, db_now, order_deadline
from opscore.tasks import fire_standing_order
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def nightly(handler="backup", slug="devops"):
    return StandingOrder.objects.create(
        agent=AgentFactory(slug=slug), name=f"{handler}-nightly", cron="30 2 * * *", handler=handler
    )


@pytest.mark.parametrize("handler", ["backup", "restore_drill"])
def test_the_backup_task_is_enqueued_with_pg_dumps_deadline_not_the_clusters(
    settings, monkeypatch, handler
):
    # the scheduler closes the test's connection (and its transaction) between beats
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
    settings.Q_CLUSTER = settings.Q_CLUSTER | {"timeout": 600, "retry": 660}
    order = nightly(handler)
    sync_order_schedules()
    Schedule.objects.filter(name=order_schedule_name(order.id)).update(
        next_run=db_now() - timedelta(seconds=5)
    )

    scheduler(broker=get_broker())

    task = OrmQ.objects.get().task
    assert task["func"] == "opscore.tasks.fire_standing_order"
    assert task["timeout"] > TIMEOUT_SECONDS  # room for pg_dump's hour, and the rest
    assert task["timeout"] == order_deadline(order).total_seconds()


def test_a_backup_still_dumping_after_forty_minutes_is_not_failed_by_the_gap_check():
    order = nightly()
    run = StandingOrderRun.objects.create(
        order=order,
        scheduled_for=db_now() - timedelta(minutes=41),
        status=RunStatus.STARTED,
        started_at=db_now() - timedelta(minutes=40),
    )

    assert check_gaps()["timed_out"] == 0
    run.refresh_from_db()
    assert run.status == RunStatus.STARTED


def test_a_backup_past_its_own_deadline_is_failed_with_the_reason():
    order = nightly()
    minutes = int(order_deadline(order).total_seconds() // 60)
    run = StandingOrderRun.objects.create(
        order=order,
        scheduled_for=db_now() - timedelta(minutes=minutes + 2),
        status=RunStatus.STARTED,
        started_at=db_now() - timedelta(minutes=minutes + 1),
    )

    assert check_gaps()["timed_out"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.summary == f"timed out after {minutes} min"


def test_an_order_with_a_longer_timeout_of_its_own_keeps_it():
    order = nightly()
    StandingOrder.objects.filter(pk=order.pk).update(timeout_minutes=300)
    order.refresh_from_db()

    assert order_deadline(order) == timedelta(minutes=300)


@pytest.mark.parametrize("late", [timedelta(seconds=30), timedelta(minutes=11)])
def test_the_broker_handing_a_running_backup_out_again_starts_no_second_dump(
    clock, monkeypatch, late
):
    """Past Q_CLUSTER's `retry` (11 min) the broker hands a still-running task out again: that
    copy finds its slot's row taken and ends, whether or not the slot is past its grace."""
    clock.freeze(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    order = nightly()
    slot = datetime(2027, 3, 2, 2, 30, tzinfo=UTC)
    StandingOrderRun.objects.create(
        order=order, scheduled_for=slot, status=RunStatus.STARTED, started_at=slot
    )
    monkeypatch.setitem(HANDLERS, "backup", lambda *_: pytest.fail("a second dump started"))
    clock.freeze(slot + late)

    fire_standing_order(order.id)

    assert list(order.runs.values_list("status", flat=True)) == [RunStatus.STARTED]
