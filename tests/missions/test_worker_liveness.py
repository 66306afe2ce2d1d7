"""A worker's liveness row tells a clean stop from a silent death: `status`, `/metrics` and the
Stage's health strip list a worker that stopped cleanly as neither live nor stale, and one that
went silent (kill -9) as stale for good."""

import json
import signal
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from console.health import health_snapshot
from console.stage.health import health_summary
from missions.models import Worker
from tests.processes import report_of, spawn_worker, wait_for

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = START + timedelta(minutes=15)


def status() -> tuple[dict, str]:
    as_json, as_text = StringIO(), StringIO()
    call_command("status", "--json", stdout=as_json)
    call_command("status", stdout=as_text)
    return json.loads(as_json.getvalue())["workers"], as_text.getvalue()


def listed(workers: dict) -> dict:
    return {label: [w["worker_id"] for w in rows] for label, rows in workers.items()}


def signalled(worker_id: str, signum: int):
    """A real `manage.py work` that wrote its liveness row, then got `signum`."""
    worker = spawn_worker(worker_id, seconds=60)
    wait_for(lambda: Worker.objects.filter(pk=worker_id).exists())
    worker.send_signal(signum)
    return worker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_does_not_call_a_finished_until_idle_worker_stale(clock):
    clock.freeze(START)
    report_of(spawn_worker("drained", until_idle=True))
    clock.freeze(LATER)

    workers, text = status()
    assert listed(workers) == {"live": [], "stale": []}
    assert "Worker stale" not in text and "Workers: none live" in text
    health = health_snapshot()
    assert (health["healthy_worker_count"], health["stale_worker_count"]) == (0, 0)
    assert health_summary()["live_workers"] == 0
    assert Worker.objects.get(pk="drained").stopped_at == START


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_does_not_call_a_worker_stopped_by_sigterm_stale(clock):
    clock.freeze(START)
    report_of(signalled("stopped", signal.SIGTERM))
    clock.freeze(LATER)

    assert listed(status()[0]) == {"live": [], "stale": []}
    assert health_snapshot()["stale_worker_count"] == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_still_calls_a_killed_worker_stale(clock):
    clock.freeze(START)
    signalled("doomed", signal.SIGKILL).communicate()
    clock.freeze(LATER)

    workers, text = status()
    assert listed(workers) == {"live": [], "stale": ["doomed"]}
    assert "Worker stale: doomed seen 900s ago" in text
    assert health_snapshot()["stale_worker_count"] == 1
    assert Worker.objects.get(pk="doomed").stopped_at is None


@pytest.mark.django_db
def test_it_counts_a_stopped_worker_live_again_when_its_slot_beats_under_the_same_id(clock):
    clock.freeze(START)
    Worker.beat("host:1:slot0", steps=2, stopping=True)
    assert health_snapshot()["healthy_worker_count"] == 0

    Worker.beat("host:1:slot0", steps=1)

    assert listed(status()[0]) == {"live": ["host:1:slot0"], "stale": []}
    assert Worker.objects.get(pk="host:1:slot0").steps_run == 3
