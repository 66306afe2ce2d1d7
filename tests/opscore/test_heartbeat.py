import json
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from opscore import heartbeat
from opscore.heartbeat import Duty, install, run_heartbeat
from opscore.models import ActionRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def extra_duties():
    saved = list(heartbeat.DUTIES)
    yield install
    heartbeat.DUTIES[:] = saved


def test_a_heartbeat_records_every_duty_in_order():
    run = run_heartbeat("test")

    names = [d["name"] for d in run.duties]
    assert names == [
        "lift_expired_overrides",
        "recover_stale_steps",
        "recover_stale_conversations",
        "standing_order_gap_check",
        "detect_runaways",
        "evaluate_triggers",
        "process_reactions",
        "count_memory_uses",
        "promote_insights",
        "learn_from_outcomes",
        "enqueue_initiatives",
        "snapshot_goals",
        "prune_llm_records",
        "set_aside_review_trees",
    ]
    assert run.duties[0]["counts"] == {"lifted": []}
    assert run.duties[1]["status"] == "ok"
    assert run.duties[1]["counts"] == {
        "requeued": 0,
        "dead": 0,
        "blocked": 0,
        "unblocked": 0,
        "timed_out": 0,
    }
    assert run.duties[2] | {"duration_ms": 0} == {
        "name": "recover_stale_conversations",
        "status": "ok",
        "counts": {"recovered": 0},
        "budget_ms": 2000,
        "duration_ms": 0,
        "over_budget": False,
    }
    assert all(d["status"] == "ok" for d in run.duties)
    assert ActionRun.objects.get().status == "succeeded"


def test_a_failing_duty_never_stops_the_others(extra_duties):
    def explode(deadline):
        raise ValueError("disk on fire")

    extra_duties(Duty("recover_stale_steps", 1, explode))
    extra_duties(Duty("after_the_fire", 1, lambda deadline: {"ran": True}))

    run = run_heartbeat("test")

    by_name = {d["name"]: d for d in run.duties}
    assert by_name["recover_stale_steps"]["status"] == "error"
    assert "ValueError: disk on fire" in by_name["recover_stale_steps"]["error"]
    assert by_name["after_the_fire"]["status"] == "ok"
    assert run.status == "partial"


def test_a_duty_over_its_budget_is_flagged(extra_duties):
    extra_duties(Duty("slow", 0.01, lambda deadline: time.sleep(0.05) or {}))

    slow = next(d for d in run_heartbeat("test").duties if d["name"] == "slow")

    assert slow["over_budget"] is True


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_heartbeats_run_once(extra_duties):
    """The first heartbeat's last duty lasts until the second has answered: a 0.5 s duty was
    over before a loaded machine's second heartbeat asked for the lock, and both ran."""
    started, answered = threading.Event(), threading.Event()

    def slow(deadline):
        started.set()
        answered.wait(60)
        return {}

    extra_duties(Duty("slow", 5, slow))
    results = []

    def beat():
        try:
            results.append(run_heartbeat("schedule"))
        finally:
            connection.close()

    first = threading.Thread(target=beat)
    first.start()
    started.wait(60)
    beat()
    answered.set()
    first.join()

    assert sorted(r.status for r in results) == ["skipped", "succeeded"]
    assert ActionRun.objects.get(status="skipped").reason == "another heartbeat is running"


def test_the_endpoint_needs_the_cron_secret(client, settings):
    settings.CRON_SECRET = "cron-secret-value" * 2

    assert client.post("/api/ops/heartbeat").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/ops/heartbeat", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer " + "cron-secret-value" * 2}
    response = client.post("/api/ops/heartbeat", headers=right)
    assert response.status_code == 200
    assert response.json()["trigger"] == "api"
    settings.CRON_SECRET = ""
    assert client.post("/api/ops/heartbeat", headers=right).status_code == 503


def test_the_cli_prints_the_run_as_json():
    out = StringIO()
    call_command("heartbeat", "--json", stdout=out)

    assert json.loads(out.getvalue())["status"] == "succeeded"
