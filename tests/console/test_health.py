"""Health you can query: the SQL views' figures on a fixture, `status` and `GET /metrics`
(its conventions: tests/console/test_metrics.py)."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db.models.functions import Now
from prometheus_client.parser import text_string_to_metric_families

from console.health import health_snapshot
from missions.models import Step, Worker
from opscore.budgets import add_to_todays_spend
from opscore.db import db_now
from opscore.models import StandingOrder, StandingOrderRun
from opscore.overrides import apply_override
from tests.factories import make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture
def ledger(agent):
    now = db_now()
    make_step("noop", agent=agent)
    make_step("noop", agent=agent, run_after=now + timedelta(hours=2))  # delayed
    for minutes in (-1, 5):  # one lease expired a minute ago, one good for five more
        lease = {"lease_token": uuid4(), "lease_owner": "fresh"}
        expires = now + timedelta(minutes=minutes)
        make_step("noop", agent=agent, status="running", lease_expires_at=expires, **lease)
    make_step("noop", agent=agent, status="dead", attempt_count=3)
    make_step("noop", agent=agent, status="succeeded", attempt_count=3)
    blocked = make_step("noop", agent=agent, status="blocked", blocked_reason="needs a human")
    Step.objects.filter(pk=blocked.pk).update(updated_at=now - timedelta(minutes=10))
    order = StandingOrder.objects.create(agent=agent, name="o", cron="* * * * *")
    for minutes, status in [(1, "completed"), (2, "no_work"), (3, "missed"), (4, "skipped")]:
        StandingOrderRun.objects.create(
            order=order, scheduled_for=now - timedelta(minutes=minutes), status=status
        )
    old = StandingOrderRun.objects.create(order=order, scheduled_for=now, status="failed")
    StandingOrderRun.objects.filter(pk=old.pk).update(created_at=Now() - timedelta(days=2))
    Worker.objects.create(worker_id="fresh", host="h", pid=1)
    Worker.objects.create(
        worker_id="stale", host="h", pid=2, last_seen_at=now - timedelta(minutes=5)
    )
    return now


def test_the_snapshot_view_counts_what_an_operator_asks_about(ledger):
    health = health_snapshot()

    assert {k: health[k] for k in ["queued_count", "running_count", "blocked_count"]} == {
        "queued_count": 2,
        "running_count": 2,
        "blocked_count": 1,
    }
    assert (health["expired_lease_count"], health["retry_hotspot_count"]) == (1, 1)
    assert 590 <= health["oldest_blocked_age_seconds"] <= 700
    assert health["next_delayed_run_at"] > ledger + timedelta(hours=1)
    assert (health["runs_last_24h"], health["missed_last_24h"], health["failed_last_24h"]) == (
        3,
        1,
        0,
    )
    assert (health["healthy_worker_count"], health["stale_worker_count"]) == (1, 1)
    assert (health["leases_owned_total"], health["busy_agents_total"]) == (1, 1)


def test_status_names_the_provider_spend_overrides_and_health(ledger):
    apply_override("pause-lane", "roundtable", reason="quiet", actor="t")
    out = StringIO()
    call_command("status", "--json", stdout=out)
    body = json.loads(out.getvalue())

    assert body["llm"]["provider"] == "offline" and body["llm"]["budget_today_usd"] == 5.0
    assert body["overrides"][0]["target"] == "roundtable"
    assert body["health"]["retry_hotspot_count"] == 1
    text = StringIO()
    call_command("status", stdout=text)
    assert "next delayed run: 20" in text.getvalue() and "LLM provider: offline" in text.getvalue()


def test_status_names_each_lanes_spend_against_its_budget_and_tier(agent, clock):
    """The README's `status` "names ... today's spend against the budget per lane"; its text
    gave the day's total only, so an operator whose roundtable had gone to the cheap tier, or
    whose steps lane was refused at its hard cap, could not tell which from `status`."""
    clock.midday()  # the spend added and status's today are one day
    add_to_todays_spend(agent.slug, "roundtable", Decimal("0.75"), 3)
    text = StringIO()

    call_command("status", stdout=text)

    assert "LLM spend by lane today: " in text.getvalue()
    assert "roundtable $0.7500 of $1.00 (cheap)" in text.getvalue()
    assert "steps $0.0000 of $3.00 (main)" in text.getvalue()


def test_status_counts_a_workers_steps_in_words(db):
    for worker_id, steps in (("one", 1), ("two", 2), ("none", 0)):
        Worker.objects.create(worker_id=worker_id, host="h", pid=1, steps_run=steps)
    text = StringIO()

    call_command("status", stdout=text)

    said = sorted(line for line in text.getvalue().splitlines() if line.startswith("Worker live"))
    assert [line.split(" ago, ")[1] for line in said] == ["0 steps", "1 step", "2 steps"]


def test_metrics_speak_prometheus_text_and_need_the_token_when_private(client, ledger, settings):
    settings.STAGE_PUBLIC, settings.OPS_API_TOKEN = False, TOKEN

    refused = client.get("/metrics")
    page = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert refused.status_code == 401
    families = {f.name: f for f in text_string_to_metric_families(page.content.decode())}
    assert families["opscore_steps_expired_leases"].samples[0].value == 1
    runs = {
        s.labels["status"]: s.value for s in families["opscore_standing_order_runs_24h"].samples
    }
    assert runs["missed"] == 1
    depths = {
        (s.labels["status"], s.labels["kind"]): s.value for s in families["opscore_steps"].samples
    }
    assert depths[("queued", "noop")] == 2


def a_sweep_that_finished(at, *, success: bool = True):
    """What django-q2 keeps of a sweep its cluster ran (group: the schedule's name)."""
    from django_q.models import Task

    return Task.objects.create(
        id=uuid4().hex, name="sweep", func="missions.tasks.sweep", group="missions.sweep",
        started=at - timedelta(seconds=1), stopped=at, success=success,
    )  # fmt: skip


def test_status_says_the_sweeper_stopped_while_the_workers_look_fine(clock):
    """The django-q cluster (the minute sweep, the heartbeat, every standing order's timer) had
    been down for half an hour: `status` listed a live worker and nothing amiss, as on a good
    day, and no gap check ran to record the missed slots."""
    from datetime import UTC, datetime

    clock.freeze(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    Worker.objects.create(worker_id="w", host="h", pid=1)
    last = a_sweep_that_finished(db_now() - timedelta(minutes=30))

    text, body = StringIO(), StringIO()
    call_command("status", stdout=text)
    call_command("status", "--json", stdout=body)

    assert "Sweeper: STALLED, last swept 30 min ago" in text.getvalue()
    assert json.loads(body.getvalue())["sweeper"]["stalled"] is True
    last.delete()
    a_sweep_that_finished(db_now() - timedelta(seconds=40))
    text = StringIO()
    call_command("status", stdout=text)
    assert "Sweeper: last swept 40s ago" in text.getvalue()


def test_metrics_say_how_long_since_the_cluster_last_swept(client, clock, settings):
    """/metrics (and so its alert rules) had nothing to say when the cluster stopped sweeping:
    OpscoreNoLiveWorker stayed quiet, the workers being up, while no timer fired."""
    from datetime import UTC, datetime

    settings.STAGE_PUBLIC = True
    clock.freeze(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    a_sweep_that_finished(db_now() - timedelta(minutes=30))

    scrape = client.get("/metrics").content.decode()

    found = {f.name: f for f in text_string_to_metric_families(scrape)}
    assert found["opscore_sweeper_last_swept_age_seconds"].samples[0].value == 1800
    assert found["opscore_sweeper_stalled"].samples[0].value == 1
    a_sweep_that_finished(db_now() - timedelta(seconds=40))
    scrape = client.get("/metrics").content.decode()
    found = {f.name: f for f in text_string_to_metric_families(scrape)}
    assert found["opscore_sweeper_stalled"].samples[0].value == 0


def test_a_sweep_that_fails_every_minute_is_stalled_not_swept(clock):
    """A sweep that crashed every minute for half an hour counted as a sweep: `status` said
    "last swept 20s ago, and it failed" in plain text, /metrics said not stalled, and no alert
    paged, while nothing was swept. What is not stalled is a sweep that succeeded lately."""
    from datetime import UTC, datetime

    clock.freeze(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    a_sweep_that_finished(db_now() - timedelta(minutes=31))
    for minutes in range(30):
        a_sweep_that_finished(db_now() - timedelta(minutes=minutes, seconds=20), success=False)

    text, body = StringIO(), StringIO()
    call_command("status", stdout=text)
    call_command("status", "--json", stdout=body)

    assert "Sweeper: STALLED, last swept 20s ago and it failed; none succeeded for 31 min" in (
        text.getvalue()
    )
    sweeper = json.loads(body.getvalue())["sweeper"]
    assert sweeper["stalled"] is True and sweeper["succeeded"] is False
    assert sweeper["seconds_since_success"] == 31 * 60


def test_one_failed_sweep_after_a_good_one_is_not_stalled(clock):
    from datetime import UTC, datetime

    clock.freeze(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    a_sweep_that_finished(db_now() - timedelta(minutes=1, seconds=20))
    a_sweep_that_finished(db_now() - timedelta(seconds=20), success=False)

    text = StringIO()
    call_command("status", stdout=text)

    assert "Sweeper: last swept 20s ago, and it failed (admin → Failed tasks)" in text.getvalue()
