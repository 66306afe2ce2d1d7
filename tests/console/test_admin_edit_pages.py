"""An edit page writes what its form changed, nothing else. Django's Save wrote every column
as the request had read it a moment before, the ones the page shows read-only too: an agent's
`enabled` that a disable-agent override switched off meanwhile was switched back on (README:
while the override holds, nothing else turns the agent back on), a trigger rule's cursor that
a pass moved meanwhile went back, so the rule answered the same events again."""

import threading

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client

from missions.models import TriggerRule
from opscore.models import Agent
from tests.factories import AgentFactory
from tests.processes import database_url, sessions_waiting_on_a_lock, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-123456789"))
    return client


def save_while_held(client, url: str, form: dict, table: str, held_update: str, args) -> list:
    """POST the edit page while another session holds the row, having just changed a column
    the page does not edit, and commit that change once the page's write waits for it."""
    answers = []

    def save():
        try:
            answers.append(client.post(url, form))
        finally:
            connection.close()

    with psycopg.connect(database_url()) as workflow:
        workflow.execute(held_update, args)
        thread = threading.Thread(target=save)
        thread.start()
        try:
            wait_for(lambda: not thread.is_alive() or sessions_waiting_on_a_lock(table))
        finally:
            workflow.commit()
        thread.join(timeout=30)
    assert not thread.is_alive()
    return answers


def agent_form(agent: Agent, **changes) -> dict:
    fields = ["display_name", "role", "tone", "quirk", "signature", "system_directive"]
    fields += ["daily_proposal_limit", "max_concurrent_steps", "roster", "runtime", "wake_url"]
    return {k: v for k, v in model_to_dict(agent, fields=fields).items()} | changes


def test_editing_an_agent_never_turns_it_back_on_after_a_disable_that_landed_meanwhile():
    agent = AgentFactory(slug="devops", enabled=True)
    form = agent_form(agent, role="On call for the databases")

    answers = save_while_held(
        superuser_client(),
        "/admin/opscore/agent/devops/change/",
        form,
        "opscore_agent",
        "UPDATE opscore_agent SET enabled = false WHERE slug = %s",
        ["devops"],
    )

    agent.refresh_from_db()
    assert answers[0].status_code == 302
    assert (agent.enabled, agent.role) == (False, "On call for the databases")


def test_editing_a_trigger_rule_never_moves_its_cursor_back():
    AgentFactory(slug="devops")
    rule = TriggerRule.objects.create(
        name="on-failure",
        trigger_event="mission_failed",
        action_config={"target_agent": "devops"},
    )
    form = {
        "name": rule.name,
        "trigger_event": rule.trigger_event,
        "conditions": "{}",
        "action_config": '{"target_agent": "devops"}',
        "cooldown_minutes": "30",
        "enabled": "on",
        "skip_probability": "0",
        "jitter_min_minutes": "0",
        "jitter_max_minutes": "0",
        "topics": "[]",
    }

    answers = save_while_held(
        superuser_client(),
        f"/admin/missions/triggerrule/{rule.id}/change/",
        form,
        "missions_triggerrule",
        "UPDATE missions_triggerrule SET last_seen_event_id = 41, fire_count = 3 WHERE id = %s",
        [rule.id],
    )

    rule.refresh_from_db()
    assert answers[0].status_code == 302
    assert (rule.cooldown_minutes, rule.last_seen_event_id, rule.fire_count) == (30, 41, 3)
