"""`/metrics` counters say what happened: every way a step ends is counted."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_step

pytestmark = pytest.mark.django_db


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
