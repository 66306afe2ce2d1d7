"""A model's reply is outside text: one that repeats a secret of the environment (a prompt
injected somewhere upstream, a model that saw it elsewhere) has it masked before any row holds
it, so no artifact, turn, chat answer or Stage page shows it — as the call's own record never
did."""

import pytest
from django.db import connection

from missions.worker import handle_one_step
from tests.factories import AgentFactory, make_step
from tests.opscore.test_llm_faults import (  # noqa: F401 (no_pause is a fixture)
    PROVIDERS,
    Served,
    no_pause,
    replies,
)

pytestmark = pytest.mark.django_db
TOKEN = "op-token-seeded-0123456789-abcdefghij"


def tables_holding(text: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [name for (name,) in cursor.fetchall()]
        found = []
        for table in tables:
            cursor.execute(f'SELECT 1 FROM "{table}" AS t WHERE t::text LIKE %s', [f"%{text}%"])
            found += [table] if cursor.fetchone() else []
    return found


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["analyze", "draft_tweet"])
def test_a_secret_a_model_repeats_reaches_no_row_and_no_page(
    monkeypatch, settings, client, provider, kind
):
    settings.OPS_API_TOKEN = TOKEN
    use, body = PROVIDERS[provider]
    use(monkeypatch, Served(replies(200, body(text=f"Sure: the token is {TOKEN}."))))
    step = make_step(kind, payload={"topic": "disk"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert step.status == "succeeded", step.last_error
    assert tables_holding(TOKEN) == []
    assert "the token is [redacted]" in step.artifacts.get().body
    page = client.get(f"/stage/missions/{step.mission_id}")
    assert page.status_code == 200 and TOKEN.encode() not in page.content


class Seen(Served):
    """The fake server, keeping each request's body as the provider was sent it."""

    def __init__(self, *answers):
        super().__init__(*answers)
        self.bodies = []

    def __call__(self, module):
        answer = super().__call__(module)

        def handler(request):
            self.bodies.append(request.content.decode())
            return answer(request)

        return handler


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_secret_in_what_a_prompt_is_built_from_is_never_sent(monkeypatch, settings, provider):
    """What a prompt is built from is typed in many places (an agent's directive in the roster,
    a goal's title, an order's instructions), not each of them masked: a key pasted into one
    was sent to the model host with every prompt, though its record showed it masked."""
    settings.OPS_API_TOKEN = TOKEN
    use, body = PROVIDERS[provider]
    seen = Seen(replies(200, body()))
    use(monkeypatch, seen)
    agent = AgentFactory(slug="devops", system_directive=f"Call the API with {TOKEN}.")
    step = make_step("analyze", agent=agent, payload={"topic": "disk"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert step.status == "succeeded", step.last_error
    assert len(seen.bodies) == 1 and "Call the API with [redacted]." in seen.bodies[0]
    assert TOKEN not in seen.bodies[0]
