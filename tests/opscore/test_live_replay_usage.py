"""A live replay buys its answers again, and the budget counts them as they come: a reply's
usage is the provider's word, so it is checked as the ledger checks any call's before anything
is charged for it."""

import json

import httpx2
import pytest

from missions.replay import replay_mission
from opscore import budgets
from opscore.llm import AnthropicProvider
from opscore.models import LLMCall
from tests.opscore.test_replay import REPLAY_DAY, anthropic_reply, recorded_mission

pytestmark = pytest.mark.django_db


@pytest.fixture
def anthropic_then_below_zero(monkeypatch):
    """Replies as billed while the mission is recorded, then usage below zero."""
    served = []

    def handler(request):
        served.append(request)
        reply = anthropic_reply(f"Answer number {len(served)}")
        if len(served) <= 2:
            return reply
        body = json.loads(reply.content) | {"usage": {"input_tokens": -(10**6), "output_tokens": 1}}
        return httpx2.Response(200, json=body)

    fake = httpx2.MockTransport(handler)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: AnthropicProvider("sk-test", fake))
    return served


def test_a_reply_with_usage_below_zero_takes_nothing_off_the_days_spend(
    agent, anthropic_then_below_zero, clock
):
    """Charged before its counts were checked, a re-bought reply claiming -1,000,000 input
    tokens took $3 off the day's spend: the replay cost less than nothing and the budget let
    $3 more through."""
    clock.freeze(REPLAY_DAY)
    mission = recorded_mission(agent, "analyze", "write_content")
    recorded = LLMCall.objects.filter(step__mission=mission).spend()

    run = replay_mission(mission.id, live=True)

    assert len(anthropic_then_below_zero) >= 3 and run.cost_usd == 0
    assert budgets.spent_today_usd() == recorded
