"""The admin's Workers page says which workers are live, stale or stopped, as `status` does:
a row alone (last seen, current step) read the same for a worker killed an hour ago."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from missions.models import Worker

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_each_worker_row_says_live_stale_or_stopped(admin_client, clock, settings):
    settings.OPS_WORKER_STALE_SECONDS = 90
    clock.freeze(NOON)
    Worker.objects.create(worker_id="w-live", host="h", pid=1)
    Worker.objects.create(
        worker_id="w-killed", host="h", pid=2, last_seen_at=NOON - timedelta(hours=1)
    )
    Worker.objects.create(worker_id="w-done", host="h", pid=3, last_seen_at=NOON, stopped_at=NOON)

    page = admin_client.get("/admin/missions/worker/").content.decode()

    rows = {
        re.search(r"w-(live|killed|done)", row)[0]: row
        for row in re.findall(r"<tr.*?</tr>", page, re.S)
        if "w-" in row
    }
    states = {name: re.search(r'class="field-state">(\w+)<', row)[1] for name, row in rows.items()}
    assert states == {"w-live": "live", "w-killed": "stale", "w-done": "stopped"}
