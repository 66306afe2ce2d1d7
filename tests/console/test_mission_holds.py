"""A mission whose queued step is held (an open breaker, a drain) says what holds it and the
fix, instead of "runs at 21:47" long after 21:47."""

import pytest

from opscore.actions import set_policy
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step, propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(settings):
    settings.STAGE_PUBLIC = True
    return propose(AgentFactory(slug="devops"), "crawl").mission


def test_a_step_held_by_an_open_breaker_says_so_and_names_the_fix(client, waiting):
    set_policy("worker_switches", {"kinds": {"crawl": False}}, actor="system:breaker")

    html = client.get(f"/stage/missions/{waiting.id}").content.decode()

    assert "Held:" in html and "the crawl breaker is open" in html
    assert "override reset-breaker crawl" in html


def test_a_step_held_by_a_drain_names_the_override_to_lift(client, waiting):
    apply_override("drain", "agent:devops", reason="maintenance", actor="operator:ann")

    html = client.get(f"/stage/missions/{waiting.id}").content.decode()

    assert "agent:devops is drained by operator:ann: maintenance" in html
    assert "override lift" in html


def test_a_step_nothing_holds_shows_no_hold(client, waiting):
    html = client.get(f"/stage/missions/{waiting.id}").content.decode()

    assert "Held:" not in html


def test_a_step_held_by_a_disabled_agent_names_the_override_to_lift(client, waiting):
    """A disabled agent's queued step read as plain queued: nothing said it will not run."""
    row = apply_override("disable-agent", "devops", reason="odd replies", actor="operator:ann")

    html = client.get(f"/stage/missions/{waiting.id}").content.decode()

    assert f"devops is disabled (override {row.id}: odd replies)" in html
    assert f"override lift {row.id}" in html


def test_a_step_held_by_a_paused_lane_names_the_override_to_lift(client, settings):
    settings.STAGE_PUBLIC = True
    mission = make_step("post_tweet", agent=AgentFactory(slug="devops")).mission
    row = apply_override("pause-lane", "publishing", reason="quiet week", actor="operator:ann")

    html = client.get(f"/stage/missions/{mission.id}").content.decode()

    assert f"lane publishing paused (queue) by override {row.id}: quiet week" in html
    assert f"override lift {row.id}" in html
