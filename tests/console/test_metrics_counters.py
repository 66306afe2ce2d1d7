"""`/metrics` counters say what happened: every way a step ends is counted, and a death stays
counted when a person retries the step (a counter must never fall: Prometheus reads a fall as
a reset, and `increase()` then counts everything again)."""

from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from missions.execution import settle_failure
from missions.models import Step, StepDependency
from missions.step_actions import dead_letter_step, retry_step
from opscore.models import LLMCall
from tests.factories import make_step

pytestmark = pytest.mark.django_db
RULES = Path(__file__).resolve().parents[2] / "deploy/prometheus/opscore-rules.yml"


def scraped(client, name: str) -> dict:
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    return {tuple(sorted(s.labels.items())): s.value for s in found[name].samples}


def test_a_step_that_failed_for_good_is_counted_among_the_steps_that_ended(client, agent):
    """A step that failed without a retry (its input refused, the model's reply unusable)
    ended as surely as a dead one; `steps_finished` left it out."""
    for status in ("failed", "dead", "succeeded"):
        make_step("noop", agent=agent, status=status)

    finished = scraped(client, "opscore_steps_finished")

    assert {dict(k)["status"]: v for k, v in finished.items()} == {
        "failed": 1,
        "dead": 1,
        "succeeded": 1,
        "cancelled": 0,
    }


def deaths(client) -> float:
    return scraped(client, "opscore_steps_died")[(("scope", "database"),)]


def test_a_death_stays_counted_when_a_person_retries_the_step(client, agent):
    """`steps_finished{status="dead"}` falls when a dead step is retried; Prometheus reads the
    fall as a reset and `increase()` counted every dead step on file as dying again, so one
    retry paged "more than 5 steps died in the last hour"."""
    ran_out = make_step("noop", agent=agent, attempt_count=3, max_attempts=3)
    stuck = make_step("noop", agent=agent)
    settle_failure(ran_out, "boom", retryable=True)
    dead_letter_step(stuck, actor="ops", reason="stuck for good")
    assert deaths(client) == 2

    retry_step(ran_out, actor="ops")
    retry_step(stuck, actor="ops")

    assert deaths(client) == 2


def test_the_dead_steps_alert_reads_a_count_that_never_falls():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    dead = next(rule for rule in rules if rule.get("alert") == "OpscoreDeadSteps")

    assert "opscore_steps_died_total" in dead["expr"]
    assert "steps_finished" not in dead["expr"]


def test_the_workers_family_names_the_stale_threshold_in_force(client, settings):
    """A worker is stale after OPS_WORKER_STALE_SECONDS (the view reads it); the HELP said
    90 s whatever it was set to."""
    settings.OPS_WORKER_STALE_SECONDS = 300
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}

    assert "within 300 s" in found["opscore_workers"].documentation
    assert "90 s" not in found["opscore_workers"].documentation


def test_a_retry_hotspot_is_any_step_not_succeeded_on_its_third_attempt(client, agent):
    """The seed's definition counts dead ones too; the HELP called them unfinished."""
    make_step("noop", agent=agent, status="dead", attempt_count=3)
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}

    hotspots = found["opscore_steps_retry_hotspots"]
    assert [s.value for s in hotspots.samples] == [1]
    assert "unfinished" not in hotspots.documentation.lower()


def test_a_call_the_budget_refused_is_not_timed_among_calls_made(client):
    """An over-budget row records a call that was never made (0 ms): counted in the duration
    histogram, a day of refusals pulled the median toward zero."""
    for latency, outcome in [(2000, "ok"), (0, "over_budget"), (0, "over_budget")]:
        LLMCall.objects.create(
            purpose="t", provider="anthropic", model="m", prompt_version="v", outcome=outcome,
            latency_ms=latency,
        )  # fmt: skip
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}

    samples = {s.name: s.value for s in found["opscore_llm_call_duration_seconds"].samples}
    assert (
        samples["opscore_llm_call_duration_seconds_count"],
        samples["opscore_llm_call_duration_seconds_sum"],
    ) == (1, 2)


def ended(client) -> dict:
    finished = scraped(client, "opscore_steps_finished")
    return {dict(k)["status"]: v for k, v in finished.items()}


def test_steps_that_ended_stay_counted_when_a_person_retries_them(client, agent):
    """`steps_finished_total` fell by one for each retried step (and by each dependent the
    retry revived): a counter that falls reads as a reset, so `rate()` and `increase()`
    counted every step on file as ending again. What ended stays counted; the retried step's
    next ending counts once more."""
    first = make_step("noop", agent=agent, attempt_count=3, max_attempts=3)
    after = Step.objects.create(mission=first.mission, kind="noop", agent=agent, position=1)
    StepDependency.objects.create(step=after, depends_on=first)
    settle_failure(first, "boom", retryable=True)
    before = ended(client)
    assert (before["dead"], before["cancelled"]) == (1, 1)

    retry_step(first, actor="ops")

    assert ended(client) == before
    first.refresh_from_db()
    after.refresh_from_db()
    assert (first.status, after.status) == ("queued", "queued")
