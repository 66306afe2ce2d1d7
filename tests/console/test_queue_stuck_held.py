"""The queue-stuck alert reads how long a step a worker may take has waited: a step an
operator's switch holds (its mission paused, its agent disabled or drained, its kind switched
off, its lane paused) waits on purpose and paged "the oldest queued step has waited over 30
minutes" however long the pause was meant to last."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from console.status import system_status
from missions.mission_control import pause_mission
from opscore.actions import set_policy
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[2] / "deploy/prometheus/opscore-rules.yml"
FIGURE = "opscore_steps_oldest_claimable_age_seconds"


def claimable_age(client) -> list[float]:
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    return [s.value for s in found[FIGURE].samples]


def hold_one_step_by_each_switch() -> None:
    paused = make_step("noop", agent=AgentFactory(slug="paused"))
    pause_mission(paused.mission_id, actor="operator:ann", reason="waiting for the vendor")
    make_step("noop", agent=AgentFactory(slug="off", enabled=False))
    drained = AgentFactory(slug="drained")
    make_step("noop", agent=drained)
    apply_override("drain", "agent:drained", reason="maintenance", actor="operator:ann")
    make_step("crawl", agent=AgentFactory(slug="crawler"))
    set_policy("worker_switches", {"kinds": {"crawl": False}}, actor="system:breaker")
    make_step("post_tweet", agent=AgentFactory(slug="poster"))
    apply_override("pause-lane", "publishing", reason="quiet day", actor="operator:ann")


def test_steps_held_by_a_switch_do_not_age_the_claimable_queue(client, clock):
    clock.freeze(START)
    hold_one_step_by_each_switch()
    clock.freeze(START + timedelta(hours=2))

    assert claimable_age(client) == []
    assert system_status()["queue"]["oldest_queued_age_seconds"] == 2 * 3600  # still queued
    assert system_status()["queue"]["oldest_claimable_age_seconds"] is None


def test_a_step_a_worker_may_take_still_ages_the_claimable_queue(client, clock):
    clock.freeze(START)
    hold_one_step_by_each_switch()
    clock.freeze(START + timedelta(minutes=30))
    make_step("noop", agent=AgentFactory(slug="free"))
    clock.freeze(START + timedelta(hours=2))

    assert claimable_age(client) == [90 * 60]
    assert system_status()["queue"]["oldest_claimable_age_seconds"] == 90 * 60


def test_the_queue_stuck_alert_reads_the_claimable_queue():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    stuck = next(rule for rule in rules if rule.get("alert") == "OpscoreQueueStuck")

    assert FIGURE in stuck["expr"]


def test_status_says_the_old_queued_steps_are_held(clock):
    from django.core.management import call_command

    clock.freeze(START)
    hold_one_step_by_each_switch()
    clock.freeze(START + timedelta(hours=2))
    out = StringIO()
    call_command("status", stdout=out)

    assert "Oldest queued step: 7200s old" in out.getvalue()
    assert "held by a switch; oldest a worker may take: none" in out.getvalue()
