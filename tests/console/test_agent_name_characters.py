"""An agent's name and voice as an operator types them in the admin (often pasted from
somewhere): a bidi override or a zero-width character in them is not kept. Kept, a U+202E in a
display name reversed the rest of every Stage line it printed on ('waiting' read 'gnitiaw' on
its card, 'from a api proposal P12' read '21P lasoporp ipa a morf' on its missions), and
reached the model's prompt hidden from the people reading it."""

import pytest
from django.forms.models import model_to_dict

from opscore.models import Agent
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
VOICE = ["display_name", "role", "tone", "quirk", "signature", "system_directive"]


def edit_form(agent: Agent, **changes) -> dict:
    fields = [*VOICE, "daily_proposal_limit", "max_concurrent_steps", "roster", "runtime"]
    return model_to_dict(agent, fields=fields) | {"wake_url": ""} | changes


def test_an_agents_name_and_voice_keep_no_character_that_hides_or_reorders_text(admin_client):
    agent = AgentFactory(slug="devops")
    typed = {field: f"Dev\u202eOps\u202c {field}\u200b 🧑‍💻" for field in VOICE}

    answer = admin_client.post("/admin/opscore/agent/devops/change/", edit_form(agent, **typed))

    agent.refresh_from_db()
    assert answer.status_code == 302
    kept = {field: f"DevOps {field} 🧑‍💻" for field in VOICE}  # the emoji's joiner stays
    assert {field: getattr(agent, field) for field in VOICE} == kept
    assert "\u202e" not in admin_client.get("/stage/agents").content.decode()
