"""One threshold for a stale worker: `status` (OPS_WORKER_STALE_SECONDS), the health view an
operator, /metrics and the Stage read (system_health_snapshot_v), /readyz and a restore's
refusal all call the same workers live and the same ones stale. The view cannot read a
process's settings: it reads the threshold from the database, written there after every
migrate, so any connection — psql included — gets the same answer."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection

from console.health import health_snapshot
from console.probes import readiness_problems
from missions.models import Worker

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VIEW = "worker_health_summary_v"


@pytest.fixture
def quiet_for(clock):
    """Two running workers, last seen 20 s and 45 s ago."""
    clock.freeze(NOW)
    for seconds in (20, 45):
        seen = NOW - timedelta(seconds=seconds)
        Worker.objects.create(worker_id=f"quiet-{seconds}s", host="h", pid=1, last_seen_at=seen)


def status_workers() -> dict:
    out = StringIO()
    call_command("status", "--json", stdout=out)
    workers = json.loads(out.getvalue())["workers"]
    return {label: [w["worker_id"] for w in rows] for label, rows in workers.items()}


@pytest.mark.parametrize(
    ("threshold", "live", "stale"),
    [
        (10, [], ["quiet-20s", "quiet-45s"]),
        (30, ["quiet-20s"], ["quiet-45s"]),
        (120, ["quiet-20s", "quiet-45s"], []),
    ],
)
def test_status_and_the_health_view_agree_on_who_is_stale(
    settings, quiet_for, threshold, live, stale
):
    settings.OPS_WORKER_STALE_SECONDS = threshold
    emit_post_migrate_signal(0, False, "default")  # as after every migrate

    health = health_snapshot()

    assert status_workers() == {"live": live, "stale": stale}
    assert (health["healthy_worker_count"], health["stale_worker_count"]) == (len(live), len(stale))
    assert ("workers" in readiness_problems()) == (not live)


def test_the_view_gives_the_same_answer_to_a_connection_that_set_nothing(settings, quiet_for):
    settings.OPS_WORKER_STALE_SECONDS = 30
    emit_post_migrate_signal(0, False, "default")

    with connection.cursor() as cursor:
        cursor.execute("RESET ALL")  # whatever a session might have set, as a psql session
        cursor.execute("SELECT healthy_worker_count, stale_worker_count FROM " + VIEW)
        assert cursor.fetchone() == (1, 1)
