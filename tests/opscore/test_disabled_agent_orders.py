"""A disabled agent's standing orders do not act: every order that is its own work (the generic
order, a lane's handlers) records its slot as `no_work` saying why, and calls no model — the
switch says "disabled" and means it. The house's upkeep it owns on paper keeps running."""

import json
from datetime import UTC, datetime

import pytest

from console.bootstrap import bootstrap
from opportunities.models import Idea
from opscore.actions import record_event
from opscore.models import Agent, StandingOrder
from opscore.overrides import apply_override
from opscore.tasks import fire_standing_order
from tests.factories import AgentFactory, run_order_now
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db


def test_a_disabled_agents_idle_window_is_no_work_with_the_reason_and_no_model_call(
    clock, monkeypatch
):
    clock.freeze(datetime(2027, 1, 5, 1, 0, tzinfo=UTC))
    bootstrap(1, actor="test")
    bootstrap(5, actor="test", force=True)
    held = apply_override("disable-agent", "devops", reason="paging storm", actor="operator:test")
    changed = record_event("deploy.finished", "web-2 deployed with a new disk layout")
    cited = [{"type": "event", "id": changed.id}]
    idea = {"title": "Disks", "body": "web-2 differs", "evidence": cited}
    model = Scripted(json.dumps({"ideas": [idea]}))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    order = StandingOrder.objects.get(name="devops-idle-cognition")
    clock.freeze(datetime(2027, 1, 5, 2, 0, 30, tzinfo=UTC))

    result = fire_standing_order(order.id)

    run = order.runs.get()
    assert result["status"] == run.status == "no_work"
    assert run.summary == f"devops is disabled (override {held.id}: paging storm)"
    assert run.evidence["checked"] == {"agent": "devops", "enabled": False, "override": held.id}
    assert model.requests == [] and not Idea.objects.exists()


def test_an_agent_disabled_without_an_override_is_no_work_too(monkeypatch):
    agent = AgentFactory(slug="devops", enabled=False)
    order = StandingOrder.objects.create(
        agent=agent, name="devops-ask", cron="* * * * *", handler="generic"
    )
    monkeypatch.setattr("opscore.llm.get_provider", lambda: pytest.fail("must not think"))

    run = run_order_now(order)

    assert (run.status, run.summary) == ("no_work", "devops is disabled")


def test_the_houses_upkeep_owned_by_a_disabled_agent_keeps_running():
    agent = AgentFactory(slug="devops", enabled=False)
    order = StandingOrder.objects.create(
        agent=agent, name="devops-health", cron="* * * * *", handler="health_check"
    )

    run = run_order_now(order)

    assert "disabled" not in run.summary and run.status in ("completed", "no_work")


def test_an_enabled_agents_order_still_runs(monkeypatch):
    agent = AgentFactory(slug="devops")
    order = StandingOrder.objects.create(
        agent=agent, name="devops-health", cron="* * * * *", handler="health_check"
    )

    run = run_order_now(order)

    assert Agent.objects.get(slug="devops").enabled and run.status != "no_work"
