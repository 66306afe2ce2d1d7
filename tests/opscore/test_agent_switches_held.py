"""While an override holds an agent's switch (`enabled` by disable-agent, `draining` by drain
agent:<slug>), nothing but lifting it flips the switch back: not the admin's actions or change
form, not a re-run of bootstrap. Each path says which override to lift."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from console.bootstrap import bootstrap
from opscore.actions import AgentSwitchHeld, set_agent_enabled
from opscore.models import Agent, Event
from opscore.overrides import apply_override, lift_override

pytestmark = pytest.mark.django_db


def disable(slug: str):
    return apply_override("disable-agent", slug, reason="paging storm", actor="operator:test")


def test_set_agent_enabled_refuses_while_a_disable_override_is_in_force(agent):
    held = disable("devops")

    with pytest.raises(AgentSwitchHeld) as refused:
        set_agent_enabled(agent, True, actor="operator:ann")

    assert str(refused.value) == (
        f"devops is disabled by override {held.id} (paging storm): lift it to change that "
        f'(admin → Overrides, `.venv/bin/opscore override lift {held.id} --reason "…"`)'
    )
    assert not Agent.objects.get(slug="devops").enabled
    assert not Event.objects.filter(kind="agent.enabled").exists()


def test_once_lifted_the_switch_is_the_operators_again(agent):
    held = disable("devops")
    lift_override(held.id, actor="operator:test", reason="quiet again")

    assert set_agent_enabled(agent, False, actor="operator:ann")
    assert set_agent_enabled(agent, True, actor="operator:ann")


def test_the_admin_enable_action_refuses_and_names_the_override(admin_client, agent):
    held = disable("devops")
    url = reverse("admin:opscore_agent_changelist")

    response = admin_client.post(
        url, {"action": "enable_agents", "_selected_action": ["devops"]}, follow=True
    )

    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"override {held.id}" in m and "lift" in m for m in said), said
    assert not Agent.objects.get(slug="devops").enabled
    assert held.__class__.objects.get(pk=held.id).status == "active"


def test_the_admin_disable_action_leaves_a_held_agent_as_the_override_set_it(admin_client, agent):
    held = disable("devops")
    url = reverse("admin:opscore_agent_changelist")

    admin_client.post(url, {"action": "disable_agents", "_selected_action": ["devops"]})
    lift_override(held.id, actor="operator:test", reason="quiet again")

    assert Agent.objects.get(slug="devops").enabled  # the lift restored what was there


def test_bootstrap_leaves_an_agent_disabled_by_an_override_disabled_and_says_so():
    bootstrap(1, actor="test")
    held = disable("devops")

    report = bootstrap(2, actor="test", force=True)

    assert not Agent.objects.get(slug="devops").enabled
    assert "devops" not in report.agents_enabled
    assert report.agents_held == [f"devops (override {held.id})"]
    applied = Event.objects.get(kind="bootstrap.phase_applied", tags__contains=["phase-2"])
    assert applied.payload["agents_held"] == [f"devops (override {held.id})"]


def test_the_change_form_shows_enabled_and_draining_but_cannot_change_them(admin_client, agent):
    apply_override("drain", "agent:devops", reason="migrating", actor="operator:test")
    url = reverse("admin:opscore_agent_change", args=["devops"])
    page = admin_client.get(url).content.decode()
    assert 'name="draining"' not in page and 'name="enabled"' not in page

    form = {
        "display_name": "Devops",
        "role": "tester",
        "daily_proposal_limit": 20,
        "max_concurrent_steps": 1,
        "runtime": "internal",
    }  # draining unticked: absent from the post
    response = admin_client.post(url, form)

    assert response.status_code == 302
    assert Agent.objects.get(slug="devops").draining


def test_an_agent_its_phase_brought_while_an_override_held_it_comes_up_when_lifted():
    """An agent of a later phase, disabled by an override before that phase came (the lift
    restores what was there: disabled), stayed disabled for good once lifted: bootstrap said it
    was left disabled while the override is in force, and never enabled it after."""
    bootstrap(1, actor="test")
    held = disable("security")  # a phase-2 agent, not enabled yet
    bootstrap(2, actor="test", force=True)
    assert not Agent.objects.get(slug="security").enabled

    lift_override(held.id, actor="operator:test", reason="quiet again")

    assert Agent.objects.get(slug="security").enabled


def test_an_agent_disabled_before_its_phase_and_lifted_before_it_stays_off():
    bootstrap(1, actor="test")
    held = disable("security")

    lift_override(held.id, actor="operator:test", reason="quiet again")

    assert not Agent.objects.get(slug="security").enabled
