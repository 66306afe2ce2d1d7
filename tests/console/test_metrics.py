"""`/metrics` as Prometheus expects it: promtool's lint passes, counters and a histogram where
they belong, database-wide families marked so they are not summed across nodes, a read-only
scrape token; and the alert rules and Grafana dashboard in deploy/ name metrics that exist."""

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from missions.models import OutboxMessage, Publication, Worker
from opscore.checks import check_secrets
from opscore.models import LLMCall
from tests.factories import make_step

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "deploy/prometheus/opscore-rules.yml"
DASHBOARD = ROOT / "deploy/grafana/opscore-dashboard.json"
TOKEN = "metrics-token-0123456789-0123456789"
API_TOKEN = "api-token-0123456789-0123456789-01"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    not PROMTOOL, reason="promtool not installed (Debian: apt-get install prometheus)"
)


@pytest.fixture
def scrape(client, agent):
    """A scrape of a database with steps, LLM calls, a worker and the outbox in use."""
    make_step("noop", agent=agent)
    make_step("noop", agent=agent, status="dead", attempt_count=3)
    for latency, outcome in [(200, "ok"), (4000, "ok"), (90_000, "error")]:
        LLMCall.objects.create(
            purpose="t", provider="offline", model="m", prompt_version="v", outcome=outcome,
            latency_ms=latency, input_tokens=10, output_tokens=5, cost_usd="0.01",
        )  # fmt: skip
    Worker.objects.create(worker_id="w", host="h", pid=1)
    OutboxMessage.objects.create(key="k1", channel="mail", status="delivered")
    OutboxMessage.objects.create(key="k2", channel="mail", status="failed")
    return client.get("/metrics").content.decode()


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_a_post_that_never_left_is_not_counted_as_delivered(client, agent):
    """The outbox row of a post recorded locally (offline, no credentials) or refused is done
    with, but nothing reached the channel: `delivered{channel="x"}` must not say it did."""
    for n, (channel, kept) in enumerate([("x", "local"), ("x", "refused"), ("x", "published")]):
        message = OutboxMessage.objects.create(key=f"post:{n}", channel=channel, status="delivered")
        Publication.objects.create(
            outbox=message, step=make_step("post_tweet", agent=agent), channel=channel, status=kept
        )
    OutboxMessage.objects.create(key="mail:1", channel="mail", status="delivered")

    found = families(client.get("/metrics").content.decode())

    delivered = found["opscore_notifications_delivered"].samples
    assert {s.labels["channel"]: s.value for s in delivered} == {"x": 1, "mail": 1}


@needs_promtool
def test_promtool_finds_no_problem_in_the_scrape(scrape):
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=60
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_counters_and_a_histogram_where_figures_only_grow(scrape):
    found = families(scrape)

    assert found["opscore_llm_calls"].type == "counter"
    assert found["opscore_steps_finished"].type == "counter"
    tokens = {s.labels["direction"]: s.value for s in found["opscore_llm_tokens"].samples}
    assert tokens == {"input": 30, "output": 15}
    buckets = {
        s.labels["le"]: s.value
        for s in found["opscore_llm_call_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert (buckets["0.25"], buckets["5.0"], buckets["60.0"], buckets["+Inf"]) == (1, 2, 2, 3)
    assert not [name for name, f in found.items() if f.type == "gauge" and
                re.search(r"_(count|total|sum|bucket)$", name)]  # fmt: skip


def test_database_wide_families_say_so_and_carry_the_scope_label(scrape):
    for name, family in families(scrape).items():
        if name.startswith("opscore_"):
            assert "database-wide" in family.documentation, name
            assert family.documentation.strip() != name.replace("_", " ")
            assert all(s.labels["scope"] == "database" for s in family.samples), name
    found = families(scrape)
    assert "process_cpu_seconds" in found  # per process: these do add up across nodes
    outbox = {s.labels["status"]: s.value for s in found["opscore_outbox_messages"].samples}
    assert outbox == {"pending": 0, "failed": 1, "refused": 0}
    assert {s.labels["state"]: s.value for s in found["opscore_workers"].samples}["live"] == 1


def test_a_node_can_leave_the_database_wide_figures_to_another(client, settings):
    settings.OPS_METRICS_DATABASE = False

    names = families(client.get("/metrics").content.decode())

    assert names and not [n for n in names if n.startswith("opscore_")]


def test_the_scrape_token_opens_metrics_and_nothing_else(client, settings):
    settings.STAGE_PUBLIC, settings.OPS_API_TOKEN = False, API_TOKEN
    settings.OPS_METRICS_TOKEN = TOKEN
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer).status_code == 200
    assert client.get("/api/ops/status", headers=bearer).status_code == 401
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    assert client.get("/metrics", headers=api).status_code == 200


def test_an_api_token_too_short_to_open_the_api_does_not_open_metrics(client, settings):
    """A guessable OPS_API_TOKEN disables the API (503 until it is longer); it opened /metrics,
    past the scrape token, to anyone who guessed it."""
    settings.STAGE_PUBLIC, settings.OPS_API_TOKEN = False, "short"
    settings.OPS_METRICS_TOKEN = TOKEN
    guessed = {"Authorization": "Bearer short"}

    assert client.get("/api/ops/status", headers=guessed).status_code == 503
    assert client.get("/metrics", headers=guessed).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_set_scrape_token_is_needed_even_on_a_public_stage(client, settings):
    settings.STAGE_PUBLIC, settings.OPS_METRICS_TOKEN = True, TOKEN

    assert client.get("/metrics").status_code == 401


@needs_promtool
def test_promtool_accepts_the_alert_rules():
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", RULES], capture_output=True, text=True, timeout=60
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_and_dashboard_name_only_metrics_the_scrape_has(scrape):
    exported = set()
    for family in families(scrape).values():
        exported |= {family.name, f"{family.name}_total"} | {s.name for s in family.samples}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = set(re.findall(r"\b(?:opscore|process)_\w+", RULES.read_text() + " ".join(exprs)))

    assert named and named <= exported, sorted(named - exported)


def test_a_short_scrape_token_is_refused_and_check_warns(client, settings):
    settings.OPS_METRICS_TOKEN = "short"

    refused = client.get("/metrics", headers={"Authorization": "Bearer short"})

    assert refused.status_code == 503 and "OPS_METRICS_TOKEN" in refused.json()["error"]
    assert "OPS_METRICS_TOKEN" in " ".join(w.msg for w in check_secrets(None))


def test_the_scrape_says_which_provider_answers_and_when_it_is_offline(client, settings):
    """Every other surface says the provider is offline; a dashboard read from /metrics showed
    call counts and spend as if a model were answering."""
    settings.OPSCORE_LLM = "offline"

    found = families(client.get("/metrics").content.decode())

    samples = found["opscore_llm_provider"].samples
    assert [(s.labels["provider"], s.value) for s in samples] == [("offline", 1)]
    assert "offline" in found["opscore_llm_provider"].documentation


def test_a_loop_capped_lately_is_a_gauge_of_what_waits_and_one_long_done_is_not(client, clock):
    """A capped loop writes a row an hour at most (record_cap_hit), so the gauge reads the
    latest row of each loop within two hours: a backlog that keeps a loop capped keeps its
    sample, and the alert rule can ask how long it has been there."""
    from opscore.actions import record_cap_hit

    start = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
    clock.freeze(start)
    record_cap_hit("sweep_a", 10, 7, actor="system:test")
    clock.freeze(start + timedelta(minutes=90))

    capped = families(client.get("/metrics").content.decode())["opscore_loops_capped"]
    assert [(s.labels["loop"], s.value) for s in capped.samples] == [("sweep_a", 7)]

    clock.freeze(start + timedelta(hours=3))
    assert not families(client.get("/metrics").content.decode())["opscore_loops_capped"].samples
